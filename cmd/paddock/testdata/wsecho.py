# A WebSocket echo server with the standard library only, listening on
# 127.0.0.1:PORT inside an environment: the test reaches it through
# Paddock's port proxy.
import base64, hashlib, socket, struct, sys, threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

def recv_exact(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b

def serve(c):
    req = b""
    while b"\r\n\r\n" not in req:
        req += c.recv(4096)
    headers = dict((k.lower(), v) for k, v in (l.split(": ", 1) for l in req.decode().split("\r\n")[1:] if ": " in l))
    key = headers.get("sec-websocket-key")
    if not key:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nnot ws")
        c.close()
        return
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
    try:
        while True:
            b1, b2 = recv_exact(c, 2)
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack(">H", recv_exact(c, 2))[0]
            elif n == 127:
                n = struct.unpack(">Q", recv_exact(c, 8))[0]
            mask = recv_exact(c, 4) if b2 & 0x80 else b"\0\0\0\0"
            data = bytes(x ^ mask[i % 4] for i, x in enumerate(recv_exact(c, n)))
            if b1 & 0x0F == 8:
                c.sendall(b"\x88\x00")
                return
            reply = b"echo:" + data
            c.sendall(bytes([0x81, len(reply)]) + reply if len(reply) < 126 else bytes([0x81, 126]) + struct.pack(">H", len(reply)) + reply)
    except EOFError:
        pass
    finally:
        c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
