"""Local sandbox servers for tests, benchmarks and the README example (all on 127.0.0.1).

    from tests.sandbox import Sandbox
    with Sandbox(latency=0.0) as sb: ...

See tests/sandbox/README.md for what each server answers.
"""

from tests.sandbox.core import Sandbox
from tests.sandbox.example import EXAMPLE, EXAMPLE_IP
from tests.sandbox.synthetic import SyntheticNetwork
from tests.sandbox.zone import ABUSIX_ZONE

__all__ = ["ABUSIX_ZONE", "EXAMPLE", "EXAMPLE_IP", "Sandbox", "SyntheticNetwork"]
