"""Sample inputs shared by several test modules."""

# The old incident.pl README's example, verbatim: the WinGate scan from 211.191.28.13.
WINGATE = [
    "Apr 14 23:11:08 blah-off.mydomain.com snort[86706]: MISC-WinGate-8080-Attempt: 211.191.28.13:1693 -> "
    "1.2.3.2:8080",
    "Apr 14 23:11:11 blah-off.mydomain.com snort[86706]: MISC-WinGate-8080-Attempt: 211.191.28.13:1693 -> "
    "1.2.3.2:8080",
    "Apr 14 23:11:13 blah-off.mydomain.com snort[86706]: MISC-WinGate-8080-Attempt: 211.191.28.13:1755 -> "
    "1.2.3.64:8080",
    "Apr 14 23:11:13 blah-off.mydomain.com snort[86706]: MISC-WinGate-8080-Attempt: 211.191.28.13:1756 -> "
    "1.2.3.65:8080",
]
