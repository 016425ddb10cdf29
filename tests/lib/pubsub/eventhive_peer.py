"""A Python peer speaking eventhive 0.5.0's wire format with the standard library only.

Written for syft's tests from the format described in the eventhive reference (no eventhive code):
json.dumps wire form, metadata under __eventhive__, HMAC-SHA1 over the indent=0 / sort_keys
canonical JSON, AES-128-CTR (key sha256(secret)[:16], full 128-bit counter), and Redis
PUBLISH / PSUBSCRIBE through a tiny RESP client over a socket.

Usage (one JSON object per line on stdout):
  eventhive_peer.py encode <event> <json> [secret]             -> the wire text
  eventhive_peer.py decode [secret]  < wire text               -> {"ok": ..., "message": ...}
  eventhive_peer.py publish <redis-port> <event> <json> [secret] [count]
  eventhive_peer.py listen <redis-port> <network> <input> <count> [secret]
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import sys
import time
import uuid

# --- AES-128 (encryption of one block; CTR needs nothing else) -------------------------------

SBOX = [0] * 256


def _init_sbox():
    p = q = 1
    while True:
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4))
        SBOX[p] = (x ^ 0x63) & 0xFF
        if p == 1:
            break
    SBOX[0] = 0x63


_init_sbox()


def _xtime(a):
    return ((a << 1) ^ 0x1B) & 0xFF if a & 0x80 else a << 1


def _expand_key(key):
    words = [list(key[i:i + 4]) for i in range(0, 16, 4)]
    rcon = 1
    for i in range(4, 44):
        t = list(words[i - 1])
        if i % 4 == 0:
            t = [SBOX[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = _xtime(rcon)
        words.append([a ^ b for a, b in zip(words[i - 4], t)])
    return [sum(words[r * 4:r * 4 + 4], []) for r in range(11)]


def _encrypt_block(round_keys, block):
    s = [b ^ k for b, k in zip(block, round_keys[0])]
    for r in range(1, 11):
        s = [SBOX[b] for b in s]
        s = [s[(i + 4 * (i % 4)) % 16] for i in range(16)]  # ShiftRows (column-major state)
        if r != 10:
            out = []
            for c in range(4):
                a = s[4 * c:4 * c + 4]
                t = a[0] ^ a[1] ^ a[2] ^ a[3]
                out += [a[i] ^ t ^ _xtime(a[i] ^ a[(i + 1) % 4]) for i in range(4)]
            s = out
        s = [b ^ k for b, k in zip(s, round_keys[r])]
    return bytes(s)


def aes_ctr(key, iv, data):
    round_keys = _expand_key(key)
    counter = int.from_bytes(iv, "big")
    out = bytearray()
    for i in range(0, len(data), 16):
        stream = _encrypt_block(round_keys, counter.to_bytes(16, "big"))
        out += bytes(a ^ b for a, b in zip(data[i:i + 16], stream))
        counter = (counter + 1) % (1 << 128)
    return bytes(out)


# --- eventhive's envelope -----------------------------------------------------------------------

def canon(obj):
    return json.dumps(obj, indent=0, sort_keys=True, separators=(",", ":")).encode("utf8")


def key_of(secret):
    return hashlib.sha256(secret.encode("utf8")).digest()[:16]


def create_message(data, event, secret=None):
    message = dict(data)
    message["__eventhive__"] = {"time": time.time(), "version": "0.5.0", "event": event,
                                "id": str(uuid.uuid4())}
    if not secret:
        return json.dumps(message)
    k = key_of(secret)
    message["__sign__"] = hmac.HMAC(k, canon(message), "sha1").hexdigest()
    iv = os.urandom(16)
    ciphertext = aes_ctr(k, iv, canon(message))
    return json.dumps({"iv": base64.b64encode(iv).decode(), "ciphertext": base64.b64encode(ciphertext).decode()})


def read_message(text, secret=None):
    data = json.loads(text)
    if not secret:
        return data
    if "iv" not in data or "ciphertext" not in data:
        raise ValueError("plaintext at a receiver with a secret")
    k = key_of(secret)
    plain = aes_ctr(k, base64.b64decode(data["iv"]), base64.b64decode(data["ciphertext"]))
    message = json.loads(plain.decode("utf8"))
    sig = message.pop("__sign__", None)
    if sig is None or not hmac.compare_digest(hmac.HMAC(k, canon(message), "sha1").hexdigest(), sig):
        raise ValueError("Invalid signature")
    return message


# --- a tiny RESP client -------------------------------------------------------------------------

class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode("utf8") if isinstance(a, str) else a
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode("utf8")
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        raise ValueError(line)


def main():
    mode = sys.argv[1]
    if mode == "encode":
        print(create_message(json.loads(sys.argv[3]), sys.argv[2], sys.argv[4] if len(sys.argv) > 4 else None))
    elif mode == "decode":
        secret = sys.argv[2] if len(sys.argv) > 2 else None
        try:
            print(json.dumps({"ok": True, "message": read_message(sys.stdin.read(), secret)}))
        except Exception as e:  # noqa: BLE001 - report any failure to the test
            print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, e)}))
    elif mode == "publish":
        port, event, data = int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
        secret = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
        count = int(sys.argv[6]) if len(sys.argv) > 6 else 1
        r = Resp(port)
        for i in range(count):
            payload = dict(data, seq=i)
            r.send("PUBLISH", event, create_message(payload, event, secret))
            print(json.dumps({"published": i, "receivers": r.read()}), flush=True)
    elif mode == "listen":
        port, network, input_channel, count = int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
        secret = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else None
        r = Resp(port)
        r.send("PSUBSCRIBE", "%s/%s/*" % (network, input_channel))
        r.read()
        print(json.dumps({"subscribed": True}), flush=True)
        got = 0
        while got < count:
            kind, _pattern, channel, data = r.read()
            if kind != "pmessage":
                continue
            try:
                message = read_message(data, secret)
            except Exception as e:  # noqa: BLE001 - eventhive drops and logs
                print(json.dumps({"dropped": "%s: %s" % (type(e).__name__, e)}), flush=True)
                continue
            print(json.dumps({"channel": channel, "message": message}), flush=True)
            got += 1


if __name__ == "__main__":
    main()
