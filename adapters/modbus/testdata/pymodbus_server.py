#!/usr/bin/python3
"""A real, independent Modbus server for setsuden's adapter tests (pymodbus 3.0).

usage: pymodbus_server.py PORT SPEC.json [socket|rtu]

SPEC.json lists values to place: {"registers": [{"table": "holding"|"input",
"address": N, "type": "float32", "order": "CDAB", "value": 1.5, "length": 6}],
"bits": [{"table": "coil"|"discrete", "address": N, "value": true}]}.

Values are encoded here with Python's struct module, and byte orders are
applied by what they mean (byte swap, word swap), not by the letter
permutation the Go decoder uses, so the test compares two implementations.
Every data block is 200 entries long, addresses 0-199 with zero_mode=True
(address 0 is the first entry); anything beyond answers exception 2.
The second framer argument "rtu" serves RTU frames over TCP.
"""
import asyncio
import json
import struct
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartAsyncTcpServer

N = 200

FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I",
           "int64": "q", "uint64": "Q", "float32": "f", "float64": "d"}


def swap_bytes_in_words(b):
    return b"".join(b[i + 1:i + 2] + b[i:i + 1] for i in range(0, len(b), 2))


def reverse_words(b):
    return b"".join(b[i:i + 2] for i in reversed(range(0, len(b), 2)))


def wire_bytes(typ, order, value, length):
    if typ == "string":
        b = value.encode("utf-8").ljust(2 * length, b"\0")
        return swap_bytes_in_words(b) if order in ("BA", "BADC", "DCBA") else b
    if typ == "bool":
        b = struct.pack(">H", 1 if value else 0)
        return swap_bytes_in_words(b) if order in ("BA", "BADC", "DCBA") else b
    big = struct.pack(">" + FORMATS[typ], value)
    if len(big) == 2:
        # 16-bit: ABCD and CDAB read as big-endian, DCBA and BADC as little.
        return big[::-1] if order in ("BA", "DCBA", "BADC") else big
    if order in ("", "ABCD", "ABCDEFGH"):
        return big
    if order in ("DCBA", "HGFEDCBA"):
        return struct.pack("<" + FORMATS[typ], value)
    if order in ("BADC", "BADCFEHG"):
        return swap_bytes_in_words(big)
    if order in ("CDAB", "GHEFCDAB"):
        return reverse_words(big)
    raise ValueError("unknown byte order " + order)


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    framer = sys.argv[3] if len(sys.argv) > 3 else "socket"

    blocks = {t: ModbusSequentialDataBlock(0, [0] * N) for t in ("holding", "input")}
    bits = {t: ModbusSequentialDataBlock(0, [False] * N) for t in ("coil", "discrete")}
    for r in spec.get("registers", []):
        b = wire_bytes(r["type"], r.get("order", ""), r["value"], r.get("length", 0))
        words = list(struct.unpack(">%dH" % (len(b) // 2), b))
        blocks[r["table"]].setValues(r["address"], words)
    for r in spec.get("bits", []):
        bits[r["table"]].setValues(r["address"], [bool(r["value"])])

    slave = ModbusSlaveContext(hr=blocks["holding"], ir=blocks["input"],
                               co=bits["coil"], di=bits["discrete"], zero_mode=True)
    context = ModbusServerContext(slaves=slave, single=True)
    kwargs = {}
    if framer == "rtu":
        from pymodbus.framer.rtu_framer import ModbusRtuFramer
        kwargs["framer"] = ModbusRtuFramer
    asyncio.run(StartAsyncTcpServer(context=context, address=("127.0.0.1", port),
                                    allow_reuse_address=True, **kwargs))


if __name__ == "__main__":
    main()
