"""A UDP backend that expects a PROXY v2 header on every datagram and answers with the client
address it carries ("ip port\\n"), or "no header\\n". Usage: udp_proxy_backend.py PORT"""
import socket
import struct
import sys

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(65536)
    if not data.startswith(SIGNATURE) or data[13] != 0x12:  # v2 PROXY, IPv4 over UDP
        s.sendto(b"no header\n", peer)
        continue
    length = struct.unpack(">H", data[14:16])[0]
    src = socket.inet_ntoa(data[16:20])
    sport = struct.unpack(">H", data[24:26])[0]
    payload = data[16 + length:]
    s.sendto(f"{src} {sport} {payload.decode()}\n".encode(), peer)
