"""Source vs destination on one line: the attacker side ranks first."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import Role
from bot.scan.addresses import find
from bot.scan.roles import attacker_index, ranked, score_line
from tests.scan.paths import on_both_paths


def first(line: str) -> str:
    return ranked(score_line(line, find(line)))[0]


@pytest.mark.parametrize(("line", "attacker"), [
    # IDS arrows (snort, suricata fast.log, mikrotik), tcpdump
    ("Feb 10 13:15:11 fw.mydomain.com snort[16526]: IDS278 - SCAN -named Version probe: "
     "166.188.17.76:8300 -> 1.2.3.2:53", "166.188.17.76"),
    ("proto TCP (SYN), 36.97.161.219:59388->81.82.202.145:23, len 40", "36.97.161.219"),
    ("11:29:42.550554 IP 172.1.2.3.22 > 1.2.3.4.43436: Flags [S.]", "172.1.2.3"),
    # firewalls: iptables SRC=/DST=, pf filterlog CSV (source before destination)
    ("kernel: [UFW BLOCK] IN=eth0 OUT= DST=192.0.2.7 SRC=45.146.165.37 PROTO=TCP", "45.146.165.37"),
    ("filterlog: 53,,,1000000301,em0,match,block,in,4,0x0,,64,420,0,none,6,tcp,460,10.0.2.2,10.0.2.15,"
     "53742,22,420,PA", "10.0.2.2"),
    # words and keys before the address
    ("sending to 10.9.9.9: Failed password for root from 203.0.113.5 port 22 ssh2", "203.0.113.5"),
    ("pvedaemon[1]: authentication failure; rhost=::ffff:172.21.10.2 user=root@pam", "172.21.10.2"),
    ("[error] POST 192.168.1.1 /control/login: from ip 192.168.1.3: invalid password", "192.168.1.3"),
    ("named[1]: client @0x7f ::1#62449 (example.com): zone transfer denied", "::1"),
    # proxies: the forwarded-for client beats the peer; CLF first field
    ("Unsuccessful login attempt from 192.168.10.1 (X-Forwarded-For: 192.168.1.2, 192.168.1.3)",
     "192.168.1.2"),
    ('{"remote_ip":"172.17.0.1","remote_port":"44790","client_ip":"127.0.0.1","host":"127.0.0.1:8080"}',
     "127.0.0.1"),
    ('10.0.0.9 - - [14/Oct/2022:09:55:53 +0200] "GET / HTTP/1.1" 404 134 "-" "x" "198.51.100.1"',
     "10.0.0.9"),
    # SIP: the remote party is the client, the local address the server
    ('SecurityEvent="InvalidPassword",LocalAddress="IPV4/UDP/172.17.0.2/5060",'
     'RemoteAddress="IPV4/UDP/172.17.0.1/56433"', "172.17.0.1"),
    # our own packet going out: the "to" side is the remote one
    ("charon: 08[IKE] sending packet: from 116.178.2.180[4500] to 116.178.2.170[28821]", "116.178.2.170"),
    # ... but not what another host was seen sending, nor a "sent" written after the pair
    ("CEF:0|Claroty|xDome|1.0|7|Expired TLS Certificate was sent over TLS 1.2 from 45.1.2.3 (Server) to "
     "192.0.2.8 (PC)|5|dst_port=443", "45.1.2.3"),
    ("CEF:0|Claroty|xDome|1.0|7|Plaintext password login attempt over HTTP from 45.1.2.3 to 192.0.2.8|5|"
     "event_type=Device Sent Plaintext Credentials", "45.1.2.3"),
    # the syslog host field is the reporting device, not the attacker
    ("2023-03-19T12:34:09.757188+01:00 10.120.127.1 system,error login failure for user admin from "
     "10.127.0.35 via winbox", "10.127.0.35"),
    # two addr:port pairs: the ephemeral port is the client's
    ("2022-07-20T21:28:50.530Z,0E,2,192.168.9.241:143,192.168.9.212:35070,testuser,authenticate",
     "192.168.9.212"),
    # exim: the address claimed in HELO, in ([...]), is not the peer
    ("dovecot_login authenticator failed for ([1.2.3.5]) [1.2.3.4]:55379: 535 Incorrect", "1.2.3.4"),
    # the peer of a connection is the remote side, whatever source the packet named
    ("wireguard: wg0: Packet has unallowed src IP (10.0.0.3) from peer 1 (192.168.1.2:51820)", "192.168.1.2"),
    # W3C field names, here in an IIS event's XML
    ('<Data Name="s-ip">192.168.9.241</Data> <Data Name="c-ip">192.168.9.212</Data>', "192.168.9.212"),
    # postfix/proftpd "name[addr]"
    ("proftpd[80686]: 172.31.39.97 (1.1.1.1[1.1.1.1]) - USER x (Login failed)", "1.1.1.1"),
])
def test_attacker_side_first(line: str, attacker: str) -> None:
    assert first(line) == attacker


def test_roles_on_an_arrow_line() -> None:
    line = "snort: 211.191.28.13:1693 -> 1.2.3.2:8080"
    scored = score_line(line, find(line))
    assert [s.role for s in scored] == [Role.SOURCE, Role.DESTINATION]
    assert attacker_index(scored) == 0


def test_no_attacker_when_every_address_is_the_hit_side() -> None:
    line = "Jun  1 10:00:00 10.0.0.1 kernel: DST=192.0.2.7"
    assert attacker_index(score_line(line, find(line))) is None


@pytest.mark.parametrize("line", [
    "fw: fe80::2%eth0->fe80::1%eth0 proto 58",
    "snort: {TCP} [fe80::2%eth0]:555 -> [fe80::1%eth0]:22",
])
def test_a_zone_id_does_not_hide_the_arrow(line: str) -> None:
    assert [(s.found.ip, s.role) for s in score_line(line, find(line))] == \
        [("fe80::2", Role.SOURCE), ("fe80::1", Role.DESTINATION)]


@pytest.mark.parametrize("user", ["9.9.9.9", "from 9.9.9.9", "X-Forwarded-For: 9.9.9.9",
                                  "x from 9.9.9.9 port 22"])
def test_an_address_in_a_user_name_does_not_frame_a_third_party(user: str) -> None:
    # sshd writes the client's chosen user name before its own "from ADDR port N"
    for line in (f"Jan  5 10:00:00 h sshd[1]: Failed password for invalid user {user} from 45.146.165.37 "
                 "port 4444 ssh2",
                 f"Jan  5 10:00:00 h sshd[1]: Invalid user {user} from 45.146.165.37 port 4444"):
        assert first(line) == "45.146.165.37", line


@pytest.mark.parametrize("chosen", ['"GET /?X-Forwarded-For=9.9.9.9 HTTP/1.1" 200 12 "-" "curl"',
                                    '"GET / HTTP/1.1" 200 12 "http://x/?client_ip=9.9.9.9" "curl"',
                                    '"GET / HTTP/1.1" 200 12 "-" "X-Real-IP: 9.9.9.9"'])
def test_an_address_in_a_requested_url_or_agent_does_not_frame_a_third_party(chosen: str) -> None:
    # the request line, referer and user agent of a Common Log Format line are the client's to write
    assert first(f"45.146.165.37 - - [10/Oct/2025:13:55:36 +0000] {chosen}") == "45.146.165.37"


def test_a_forwarded_for_field_of_the_log_format_still_names_the_client() -> None:
    line = ('10.0.0.2 - - [10/Oct/2025:13:55:36 +0000] "GET / HTTP/1.1" 200 12 "-" "curl" '
            'x_forwarded_for="45.146.165.37"')
    assert first(line) == "45.146.165.37"


PRINCIPLES = [
    # IIS's default W3C columns without a #Fields header: s-ip before the method, c-ip after
    ("2021-11-28 00:00:04 W3SVC1 10.44.0.136 GET /cdgo SERVER-STATUS=200 443 - 67.43.156.13 HTTP/1.1 x - "
     "example.com 200 0 0 1 2 3", "67.43.156.13"),
    # a connection our side opened: the local address is the initiator
    ("%ASA-6-302020: Built outbound ICMP connection for faddr 203.0.113.20/0 gaddr 198.51.100.10/0 "
     "laddr 192.0.2.30/0 type 8 code 0", "192.0.2.30"),
    ("%ASA-6-302020: Built inbound ICMP connection for faddr 203.0.113.20/0 gaddr 198.51.100.10/0 "
     "laddr 192.0.2.30/0 type 8 code 0", "203.0.113.20"),
    # a forwarded-for list: the rightmost entry that is not a trusted (private) proxy is the client
    ('10.0.0.2, 10.0.0.1, 89.160.20.112 - - [29/May/2017:19:02:48 +0000] "GET / HTTP/1.1" 200 612 "-" "x"',
     "89.160.20.112"),
    # ... and a list that an untrusted peer sent is its own text: the peer is the client
    ('45.1.2.3 - - [10/Oct/2025:13:55:36 +0000] "GET / HTTP/1.1" 200 12 "-" "curl" '
     'x_forwarded_for="74.125.225.229"', "45.1.2.3"),
    # a key written twice: the daemon wrote the last one ...
    ("auth: relay=[74.125.225.229], relay=[45.1.2.3], reject=550", "45.1.2.3"),
    # ... also when the client's text broke out of its quotes to write it: Exim's H=, nginx's
    # "client: " (a basic-auth user name; here with no quoted field after nginx's own)
    ('2026-03-10 10:00:01 SMTP protocol error in "AUTH x" H=(a) [74.125.225.229]" H=(b) [45.1.2.3] '
     "AUTH command used when not advertised", "45.1.2.3"),
    ('2026/03/10 10:00:01 [error] 7#7: *3 user "x": password mismatch, client: 74.125.225.229, '
     'server: y, host: "z"" was not found in "/etc/nginx/.htpasswd", client: 45.1.2.3, server: y',
     "45.1.2.3"),
    # the same key at another level is not written twice: slapd's "(IP=listening address)"
    ("slapd[1183]: conn=1022 fd=15 ACCEPT from IP=10.1.2.3:39978 (IP=192.0.2.5:389)", "10.1.2.3"),
    # SonicWall: "src=A:port:iface" and the NAT address it was translated to, both with ephemeral ports
    ('10.0.0.1 id=firewall fw=10.0.0.2 msg="Connection Opened" src=10.0.0.3:52379:X0 natSrc=10.0.0.2:48245 '
     "dst=216.160.83.61:443:X1 natDst=216.160.83.61:443 proto=tcp/https", "10.0.0.3"),
    # Envoy's (Istio's) default access log: the downstream remote address, third field from the end
    ('[2026-03-10T10:00:01.955Z] "GET /details/0 HTTP/1.1" 200 - via_upstream - "-" 0 178 2 1 "-" '
     '"curl/8.5.0" "7859" "details:9080" "10.68.2.10:9080" inbound|9080|| 127.0.0.6:47889 '
     "10.68.2.10:9080 45.1.2.3:39696 outbound_.9080_._.details.default.svc.cluster.local default",
     "45.1.2.3"),
    # "remote" is the far side as the firewall sees it: here the server its own client reached
    ('{"protocol":17,"localAddr":"10.0.0.21","SServerAddr":"74.125.225.229","remoteAddr":"74.125.225.229",'
     '"CClientAddr":"45.1.2.3","SClientAddr":"192.0.2.172","CClientPort":59881}', "45.1.2.3"),
    # a list the line names as servers is no chain of proxies
    ('{"note":"SSH::Password_Guessing","msg":"45.1.2.3 appears to be guessing SSH passwords",'
     '"sub":"Sampled servers:  74.125.225.229, 74.125.225.229","src":"45.1.2.3"}', "45.1.2.3"),
    # Cisco ASA: an interface name glued to the address ("src fw111:A") does not weaken its key; the
    # ICMP error's embedded packet ("Original IP payload: udp src B") comes after the event's own
    ("%ASA-3-313005: No matching connection for ICMP error message: icmp src fw111:10.192.33.100 dst "
     "fw111:192.18.4.1 (type 3, code 3) on fw111 interface. Original IP payload: udp src 192.18.4.1/53 dst "
     "8.8.8.8/10872.", "10.192.33.100"),
    # an access log relayed by syslog: the header's host is the relay, the head is the client
    ('Jun  4 13:12:09 172.19.0.1 registryctl[1297]: 172.19.0.7 - - [04/Jun/2019:13:12:09 +0000] '
     '"GET /api/health HTTP/1.1" 200 9', "172.19.0.7"),
    # a key phrase ending in generic nouns takes its side from its first word ...
    ("SymantecServer: C7,Local Host IP: 172.16.1.1,Local Host MAC: 0050,Remote Host Name: x,"
     "Remote Host IP: 93.184.216.100,Remote Host MAC: 00:11,Inbound,TCP,Blocked", "93.184.216.100"),
    # ... and a record whose direction field says Outbound was opened by our side
    ("exampleserver,Local Host: 81.2.69.143,Local Port: 138,Remote Host IP: 81.2.69.144,Remote Port: 138,"
     "Outbound,Application: C:/windows/system32/NTOSKRNL.EXE,Action: Blocked", "81.2.69.143"),
    # ... but a direction key beside source and destination fields changes nothing: they already
    # follow who opened the connection (Windows Filtering Platform)
    ("Security-Auditing: 5156: The Windows Filtering Platform has permitted a connection. Network "
     "Information: Direction: Outbound Source Address: 192.0.2.7 Source Port: 1234 Destination Address: "
     "198.51.100.9 Destination Port: 443 Protocol: 6", "192.0.2.7"),
    # a generic key takes the side of the object it is in (ECS JSON, destination written first)
    ('{"@timestamp":"2026-03-10T10:00:01Z","destination":{"ip":"10.0.0.4","port":22},'
     '"source":{"ip":"45.1.2.3","port":40000}}', "45.1.2.3"),
    ('{"dst": {"ip": "10.0.0.4", "fqdn": "dc01.local"}, "src": {"ip": "45.1.2.3"}}', "45.1.2.3"),
    # a firewall's translated address is its own, the victim's is the hit side
    ('{"nat-source-address":"20.20.20.20","source-address":"10.10.10.10","destination-address":"10.1.1.1"}',
     "10.10.10.10"),
    ('{"victim_ip":"100.10.1.1","source_ip":"10.10.100.9"}', "10.10.100.9"),
    # a word is a key only next to its address: not a source file's name before it ("[server.go:2619] |")
    ("Jun  4 13:20:57 172.19.0.1 core[1297]: 2019/06/04 13:20:57 [D] [server.go:2619] |      "
     "45.1.2.3| 200 |     9.9379ms|   match| GET      /api/ping", "45.1.2.3"),
    # a relay that writes facility and level before its host is still the syslog header's host
    ("Jun 22 19:14:37 <local0.info> 81.2.69.144 06/22/2015:19:14:37 GMT ns 0-PPE-1 : default APPFW "
     "APPFW_cross-site scripting 60 0 : 175.16.199.1 616-PPE1 y/3upt2K8y pr_ffc", "175.16.199.1"),
    # a quoted value written right before an address is no key for it (a User-Agent "Go-http-client")
    ('barracuda WF ALER NO_DOMAIN_MATCH_IN_PROFILE 81.2.69.144 52532 67.43.156.4 443 Hackazon GLOBAL LOG '
     'NONE ["-"] GET /sitemap.xml TLSv1.2 "-" "Go-http-client/1.1" 1.128.0.3 52532 "-" http://x/',
     "81.2.69.144"),
    # the Linux kernel's "martian source DST from SRC": its "source" names the message, not the address
    ("kernel: [42.1] IPv4: martian source 10.0.106.201 from 10.0.69.167, on dev eth0", "10.0.69.167"),
    # Pulse Connect Secure: "[ADDR] user(realm)[roles]" after the node name; the tunnel's own address
    ("Oct 19 09:10:35 pcs-node1 1 2021-10-19T09:10:35+02:00 10.5.2.3 PulseSecure: - - - 2021-10-19 09:10:35 "
     "- pcs-node1 - [45.1.2.3] user.name(REALM)[ROLES] - VPN Tunneling: User with IP 172.22.27.209 "
     "connected with SSL transport mode.", "45.1.2.3"),
    # sshd's "ssh1: ruser NAME" tail: the remote user name the client sent
    ("sshd[7]: Failed password for root from 45.1.2.3 port 40000 ssh1: ruser x from 74.125.225.229",
     "45.1.2.3"),
    # Oracle Messaging's connection tuple: "tr=\"TCP|local|port|remote|port\""
    ('<co ts="2026-03-10T10:00:01.00" sc="tcp_local" tr="TCP|192.0.2.5|25|45.1.2.3|51234" ap="SMTP" '
     'mi="Bad password" us="a@example.org"/>', "45.1.2.3"),
    # Unbound's "query: CLIENT name type class": its peer field, though "query" keys a client's text
    # elsewhere; the name queried is the client's ("9.9.9.9." is a name)
    ("2025-10-14T17:44:30+02:00 192.0.2.53 unbound[1113]: [1113:1] query: 45.1.2.3 9.9.9.9. A IN",
     "45.1.2.3"),
    ("Oct 14 17:44:30 ns unbound[1113]: [1113:0] reply: 45.1.2.3 9.9.9.9. A IN NOERROR 0.000 0 45",
     "45.1.2.3"),
    # a comma list nothing marks as forwarded-for is addresses side by side, not a proxy chain: a
    # DNS answer after the query's source, PIM's (source, group) pair before the sender
    ("CEF:0|Fortinet|Fortigate|v6.0.3|54802|dns:dns-response pass|3|src=45.1.2.3 spt=54621 "
     "dst=192.0.2.53 dpt=53 FTNTFGTqname=example.org FTNTFGTipaddr=104.80.89.26, 104.80.89.24 act=pass",
     "45.1.2.3"),
    ("%PIM-SW1-6-INVALID_RP_JOIN: Received (10.50.22.5, 10.36.2.78) Join from 10.4.5.66 for invalid RP "
     "10.3.66.3", "10.4.5.66"),
    # CEF custom fields are named by their labels, wherever the label is written; a label written
    # twice names nothing
    ("CEF:0|F5|Advanced Firewall Module|11.3|Bad TCP checksum|Drop|8|dvc=192.0.2.176 act=Drop "
     "c6a3=2001:db8::3 c6a2=2001:db8::99 c6a2Label=source_address c6a3Label=destination_address",
     "2001:db8::99"),
    ("CEF:0|F5|AFM|11.3|x|Drop|8|c6a2Label=source_address c6a3=2001:db8::3 c6a2=2001:db8::99",
     "2001:db8::99"),
    ("CEF:0|F5|AFM|11.3|x|Drop|8|c6a3=2001:db8::3 c6a2=2001:db8::99 c6a3Label=source_address "
     "c6a3Label=destination_address c6a2Label=source_address", "2001:db8::99"),
    ("CEF:0|Vendor|Prod|1.0|100|x|5|dvc=192.0.2.1 deviceCustomIPv6Address2=2001:db8::9 "
     "deviceCustomIPv6Address2Label=Source IPv6 Address dst=192.0.2.8", "2001:db8::9"),
    # ... and a labelled copy of the client's X-Forwarded-For header does not beat the device's src=
    ("CEF:0|F5|ASM|15.1|Successful Request|Successful Request|2|dvc=192.0.2.1 src=45.1.2.3 spt=51702 "
     "dst=192.0.2.8 dpt=443 cs5=74.125.225.229 cs5Label=x_forwarded_for_header_value", "45.1.2.3"),
    # RADIUS names its sides (RFC 2865): Calling-Station-Id is the user's station, Called-Station-Id
    # and NAS-IP-Address the server's; the device that logged the request is not the client either
    ("5400 NOTICE Failed-Attempt: Authentication failed, Device IP Address=192.0.2.4, Device Port=53874, "
     "DestinationIPAddress=192.0.2.5, DestinationPort=1812, UserName=john.doe, NAS-IP-Address=192.0.2.6, "
     "Called-Station-ID=192.0.2.7, Calling-Station-ID=45.1.2.3, NAS-Port-Type=Virtual", "45.1.2.3"),
    ('{"device": {"name": "fw1", "ip": "192.0.2.4"}, "src_endpoint": {"ip": "45.1.2.3", "port": 4444}}',
     "45.1.2.3"),
    ("CEF:0|Vendor|IDS|1.0|100|Port scan|7|dvc=192.0.2.4 msg=45.1.2.3 scanned 1024 ports", "45.1.2.3"),
    ('{"deviceIp":"192.0.2.4","remoteDeviceIp":"45.1.2.3","action":"blocked"}', "45.1.2.3"),
    # a JSON "host" is the machine that logged or served the event, not the client: as a key, or as
    # the object that holds a generic "ip"
    ('{"site":"web","host":"74.125.225.229","src_ip":"45.1.2.3","user":"bob"}', "45.1.2.3"),
    ('{"host":{"name":"web01","ip":["74.125.225.229"]},"source":{"ip":"45.1.2.3","port":4444}}', "45.1.2.3"),
    ('{"server":{"host":"74.125.225.229"},"client":{"host":"45.1.2.3","port":4444}}', "45.1.2.3"),
    # ... however long the text before it (a Windows event's message), and whatever braces a string
    # holds ("}" in a URL closes no object)
    ('{"message":"' + "An account failed to log on. " * 100 + '","url":"/a}b",'
     '"host":{"ip":["74.125.225.229"]},"source":{"ip":"45.1.2.3"}}', "45.1.2.3"),
    # a key phrase whose qualifier says no side ("ATD IP:", the sandbox's own) is weaker than one
    # that says source
    ('{"fileId": "x", "ATD IP": "74.125.225.229", "Src IP": "45.1.2.3", "Dst IP": "192.0.2.8"}', "45.1.2.3"),
    ("alert sig=2001219 Sensor IP: 74.125.225.229 Attacker IP: 45.1.2.3 action=blocked", "45.1.2.3"),
    # a "{" inside a string the client wrote opens no object, and a ",Outbound," inside its URL
    # swaps nothing
    ('{"node":"74.125.225.229","request":"GET /index.php?dst={ HTTP/1.1","ip":"45.1.2.3"}', "45.1.2.3"),
    ('Mar  3 10:00:00 fw waf[1]: src=45.1.2.3 dst=74.125.225.229 url="/a,Outbound,c"', "45.1.2.3"),
    # ... but in prose "device" is any machine, the attacker's too
    ("Nov 28 10:00:00 gw netmon[7]: Blocked device 45.1.2.3 from reaching 192.0.2.1", "45.1.2.3"),
    # the CLF user field is free text up to the date
    ('45.1.2.3 - x from 74.125.225.229 port 22 [10/Oct/2025:13:55:36 +0000] "GET / HTTP/1.1" 401 1 "-" "x"',
     "45.1.2.3"),
    # SIP: the From header is the client's to write; the address Asterisk saw is in "failed for"
    ("chan_sip.c: Registration from '\"74.125.225.229\"<sip:74.125.225.229@192.0.2.5>' failed for "
     "'45.1.2.3:5060' - Wrong password", "45.1.2.3"),
]


@pytest.mark.parametrize(("line", "attacker"), PRINCIPLES)
def test_principles(line: str, attacker: str) -> None:
    assert first(line) == attacker


def test_principles_hold_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the bulk path reads a big file shape by shape, not line by line: the same rules, one implementation
    for n, (line, attacker) in enumerate(PRINCIPLES):
        log = tmp_path / f"{n}.log"
        log.write_text((line.replace("\n", " ") + "\n") * 40)
        for result in on_both_paths(log, monkeypatch):
            assert result.candidates[0].ip == attacker, (line, result.candidates[:2])
