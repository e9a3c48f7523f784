"""Line shape keys: the month names taken out exactly as the plain definition says."""

from __future__ import annotations

import random
import re

from bot.scan.shapes import plain_keys, undated

# The definition: a month name not glued to a letter before it nor to a lower-case letter after it,
# with the space after it.
_REFERENCE = re.compile(rb"(?<![A-Za-z])(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)(?![a-z]) ?")


def test_month_names_are_taken_out() -> None:
    assert undated(b"Mar  :: host sshd") == b"\x01 :: host sshd"
    assert undated(b"Dec ::") == b"\x01::"
    assert undated(b"Marchand Decimal xJan JanX") == b"Marchand Decimal xJan \x01X"
    assert plain_keys(b"Oct 12 x\nNov  3 y") == [b"\x01 x", b"\x01  y"]


def test_month_pattern_matches_its_definition() -> None:
    rng = random.Random(7)
    alphabet = b"JanFebMarAprMayJunJulAugSepOctNovDec aAzZ.:[]\n01"
    for _ in range(20000):
        text = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert undated(text) == _REFERENCE.sub(b"\x01", text), text
