#!/usr/bin/env python3
"""http_probe.py — raw HTTP clients for http_test.sh (heapscope's endpoint).

  http_probe.py PORT send REQUEST     send REQUEST (Python escapes: \\r\\n) as
                                      is and close the sending side; print
                                      the status code, then the body (if
                                      text, else one line: its length)
  http_probe.py PORT get PATH         the same for "GET PATH HTTP/1.1"
  http_probe.py PORT abandon N PATH   N clients send GET PATH and reset the
                                      connection at once, without reading
  http_probe.py PORT silent N         N clients connect, send nothing, close
  http_probe.py PORT hold N PATH      N clients send GET PATH (a slow one,
                                      e.g. ?seconds=3) and wait; meanwhile
                                      GET /metrics: print its status and the
                                      seconds it took; then the held
                                      responses' statuses
  http_probe.py PORT trickle N S      N clients each send a request head a
                                      byte every S seconds (36 bytes); print
                                      each one's status (0: none) and the
                                      seconds until the server closed it
  http_probe.py PORT line             connect, send a request, print the
                                      first line of the answer
  http_probe.py PORT metrics          parse /metrics in Prometheus's text
                                      format; print "name value" per sample,
                                      exit 1 on a malformed line
"""
import re
import select
import socket
import struct
import sys
import time


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def read_all(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def exchange(port, raw, half_close=False):
    with connect(port) as sock:
        sock.sendall(raw)
        if half_close:  # nothing more is coming: no waiting for a blank line
            sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def split_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0].startswith("HTTP/1.1 ") else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers and int(headers["content-length"]) != len(body):
        status = -1  # a cut or padded body
    return status, headers, body


def get(port, path):
    return split_response(exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()))


def main():
    port, command, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if command in ("send", "get"):
        if command == "send":
            raw = args[0].encode().decode("unicode_escape").encode("latin-1")
            status, headers, body = split_response(exchange(port, raw, half_close=True))
        else:
            status, headers, body = get(port, args[0])
        print(status)
        kind = headers.get("content-type", "")
        if kind.startswith("text/"):
            sys.stdout.write(body.decode("utf-8", "replace"))
        else:
            print(f"{len(body)} bytes of {kind}")
    elif command == "line":
        data = exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n", half_close=True)
        print(data.decode("latin-1").split("\n")[0].rstrip("\r"))
    elif command == "abandon":
        for _ in range(int(args[0])):
            sock = connect(port)
            sock.sendall(f"GET {args[1]} HTTP/1.1\r\n\r\n".encode())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
    elif command == "trickle":
        head = b"GET /metrics HTTP/1.1\r\nX-Pad: ab\r\n\r\n"
        clients = [connect(port) for _ in range(int(args[0]))]
        start = time.monotonic()
        answers = [None] * len(clients)
        for i in range(len(head) + 1):
            for n, sock in enumerate(clients):
                if answers[n] is not None:
                    continue
                if select.select([sock], [], [], 0)[0] or i == len(head):
                    status = split_response(read_all(sock))[0]  # the server answered and closed
                    answers[n] = (status, round(time.monotonic() - start, 1))
                else:
                    sock.sendall(head[i:i + 1])
            if all(a is not None for a in answers):
                break
            time.sleep(float(args[1]))
        for (status, seconds), sock in zip(answers, clients):
            print(status, seconds)
            sock.close()
    elif command == "silent":
        for _ in range(int(args[0])):
            connect(port).close()
    elif command == "hold":
        held = []
        for _ in range(int(args[0])):
            sock = connect(port)
            sock.sendall(f"GET {args[1]} HTTP/1.1\r\n\r\n".encode())
            held.append(sock)
        time.sleep(0.3)  # let the server take them all
        start = time.monotonic()
        status, _, _ = get(port, "/metrics")
        print(status, round(time.monotonic() - start, 2))
        print(" ".join(str(split_response(read_all(sock))[0]) for sock in held))
    elif command == "metrics":
        status, headers, body = get(port, "/metrics")
        if status != 200 or not headers.get("content-type", "").startswith("text/plain; version=0.0.4"):
            print(f"status {status}, content-type {headers.get('content-type')}")
            return 1
        typed = set()
        sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\"\})? (\d+)$")
        for line in body.decode().splitlines():
            if line.startswith("# HELP "):
                continue
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                if kind not in ("gauge", "counter"):
                    print(f"bad type line: {line}")
                    return 1
                typed.add(name)
                continue
            m = sample.match(line)
            if not m or m.group(1) not in typed:
                print(f"malformed or untyped line: {line!r}")
                return 1
            print(m.group(1), m.group(3))
    else:
        print(f"unknown command {command}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
