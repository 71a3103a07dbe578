#!/usr/bin/env python3
"""Tiny logging TCP proxy for the PostgreSQL v3 wire protocol.

Listens on 127.0.0.1:LISTEN, forwards to 127.0.0.1:UPSTREAM and writes a
decoded trace of every frontend (F) and backend (B) message to
OUTDIR/conn-<n>.txt.  Data payloads of DataRow are summarised.
"""
import os
import socket
import struct
import sys
import threading

LISTEN = int(sys.argv[1])
UPSTREAM = int(sys.argv[2])
OUTDIR = sys.argv[3]
os.makedirs(OUTDIR, exist_ok=True)
counter = [0]
lock = threading.Lock()


def cstr(buf, i):
    j = buf.index(b"\0", i)
    return buf[i:j].decode("utf-8", "replace"), j + 1


def fmt_val(v):
    if v is None:
        return "NULL"
    try:
        s = v.decode("utf-8")
        if all(c.isprintable() or c in "\n\t" for c in s):
            return repr(s)
    except UnicodeDecodeError:
        pass
    return "0x" + v.hex()


def decode_f(t, body):
    try:
        if t == "Q":
            return "Query " + repr(cstr(body, 0)[0])
        if t == "P":
            name, i = cstr(body, 0)
            q, i = cstr(body, i)
            (n,) = struct.unpack_from("!h", body, i)
            oids = list(struct.unpack_from("!%dI" % n, body, i + 2))
            return "Parse name=%r paramtypes=%s query=%r" % (name, oids, q)
        if t == "B":
            portal, i = cstr(body, 0)
            stmt, i = cstr(body, i)
            (nf,) = struct.unpack_from("!h", body, i); i += 2
            pf = list(struct.unpack_from("!%dh" % nf, body, i)); i += 2 * nf
            (np_,) = struct.unpack_from("!h", body, i); i += 2
            vals = []
            for _ in range(np_):
                (ln,) = struct.unpack_from("!i", body, i); i += 4
                if ln < 0:
                    vals.append(None)
                else:
                    vals.append(body[i:i + ln]); i += ln
            (nr,) = struct.unpack_from("!h", body, i); i += 2
            rf = list(struct.unpack_from("!%dh" % nr, body, i))
            return "Bind portal=%r stmt=%r paramformats=%s params=[%s] resultformats=%s" % (
                portal, stmt, pf, ", ".join(fmt_val(v) for v in vals), rf)
        if t == "D":
            return "Describe %s %r" % (chr(body[0]), cstr(body, 1)[0])
        if t == "E":
            portal, i = cstr(body, 0)
            (mx,) = struct.unpack_from("!i", body, i)
            return "Execute portal=%r maxrows=%d" % (portal, mx)
        if t == "C":
            return "Close %s %r" % (chr(body[0]), cstr(body, 1)[0])
        if t == "S":
            return "Sync"
        if t == "H":
            return "Flush"
        if t == "X":
            return "Terminate"
        if t == "p":
            return "Password/SASL (%d bytes, not logged)" % len(body)
    except Exception as e:  # noqa
        return "%s <decode error %r> %r" % (t, e, body[:200])
    return "%s %r" % (t, body[:200])


def decode_b(t, body):
    try:
        if t == "R":
            (code,) = struct.unpack_from("!i", body, 0)
            names = {0: "AuthenticationOk", 3: "CleartextPassword", 5: "MD5Password", 10: "SASL", 11: "SASLContinue", 12: "SASLFinal"}
            return "Authentication %s" % names.get(code, code)
        if t == "S":
            k, i = cstr(body, 0)
            v, _ = cstr(body, i)
            return "ParameterStatus %s=%r" % (k, v)
        if t == "K":
            return "BackendKeyData"
        if t == "Z":
            return "ReadyForQuery %s" % chr(body[0])
        if t == "T":
            (n,) = struct.unpack_from("!h", body, 0)
            i = 2
            cols = []
            for _ in range(n):
                name, i = cstr(body, i)
                tbl, att, typ, sz, mod, fm = struct.unpack_from("!IhIhih", body, i)
                i += 18
                cols.append("%s(tbl=%d,att=%d,type=%d,len=%d,mod=%d,fmt=%d)" % (name, tbl, att, typ, sz, mod, fm))
            return "RowDescription [" + ", ".join(cols) + "]"
        if t == "D":
            (n,) = struct.unpack_from("!h", body, 0)
            i = 2
            vals = []
            for _ in range(n):
                (ln,) = struct.unpack_from("!i", body, i); i += 4
                if ln < 0:
                    vals.append(None)
                else:
                    vals.append(body[i:i + ln]); i += ln
            return "DataRow [" + ", ".join(fmt_val(v) for v in vals) + "]"
        if t == "C":
            return "CommandComplete %r" % cstr(body, 0)[0]
        if t in "EN":
            fields = []
            i = 0
            while body[i] != 0:
                code = chr(body[i])
                v, i = cstr(body, i + 1)
                fields.append("%s=%r" % (code, v))
            return ("ErrorResponse " if t == "E" else "NoticeResponse ") + " ".join(fields)
        if t == "1":
            return "ParseComplete"
        if t == "2":
            return "BindComplete"
        if t == "3":
            return "CloseComplete"
        if t == "n":
            return "NoData"
        if t == "s":
            return "PortalSuspended"
        if t == "I":
            return "EmptyQueryResponse"
        if t == "t":
            (n,) = struct.unpack_from("!h", body, 0)
            return "ParameterDescription %s" % list(struct.unpack_from("!%dI" % n, body, 2))
    except Exception as e:  # noqa
        return "%s <decode error %r>" % (t, e)
    return "%s (%d bytes)" % (t, len(body))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def handle(client):
    with lock:
        counter[0] += 1
        n = counter[0]
    out = open(os.path.join(OUTDIR, "conn-%03d.txt" % n), "w", buffering=1)
    wlock = threading.Lock()

    def log(line):
        with wlock:
            out.write(line + "\n")

    up = socket.create_connection(("127.0.0.1", UPSTREAM))
    state = {"startup": True}

    def f2b():
        try:
            # startup phase: untyped messages
            while state["startup"]:
                hdr = recv_exact(client, 4)
                (ln,) = struct.unpack("!i", hdr)
                body = recv_exact(client, ln - 4)
                (code,) = struct.unpack_from("!i", body, 0)
                if code == 80877103:
                    log("F SSLRequest")
                    up.sendall(hdr + body)
                    continue
                if code == 80877104:
                    log("F GSSENCRequest")
                    up.sendall(hdr + body)
                    continue
                if code == 80877102:
                    log("F CancelRequest")
                    up.sendall(hdr + body)
                    return
                parts = body[4:].split(b"\0")
                kv = []
                for i in range(0, len(parts) - 1, 2):
                    if parts[i] == b"":
                        break
                    kv.append("%s=%r" % (parts[i].decode(), parts[i + 1].decode()))
                log("F StartupMessage protocol=%d.%d %s" % (code >> 16, code & 0xFFFF, " ".join(kv)))
                up.sendall(hdr + body)
                state["startup"] = False
            while True:
                t = recv_exact(client, 1)
                hdr = recv_exact(client, 4)
                (ln,) = struct.unpack("!i", hdr)
                body = recv_exact(client, ln - 4)
                log("F " + decode_f(t.decode(), body))
                up.sendall(t + hdr + body)
        except (EOFError, OSError):
            pass
        finally:
            try:
                up.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def b2f():
        try:
            while True:
                t = recv_exact(up, 1)
                if state["startup"] and t in (b"N", b"S", b"G"):
                    # single-byte reply to SSLRequest/GSSENCRequest
                    log("B SSL/GSS reply %r" % t)
                    client.sendall(t)
                    continue
                hdr = recv_exact(up, 4)
                (ln,) = struct.unpack("!i", hdr)
                body = recv_exact(up, ln - 4)
                log("B " + decode_b(t.decode(), body))
                client.sendall(t + hdr + body)
        except (EOFError, OSError):
            pass
        finally:
            try:
                client.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    a = threading.Thread(target=f2b, daemon=True)
    b = threading.Thread(target=b2f, daemon=True)
    a.start(); b.start(); a.join(); b.join()
    out.close()
    client.close(); up.close()


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", LISTEN))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
