import struct, zlib, sys
def png(size, path):
    rows = []
    c = size / 2
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            dx, dy = (x + 0.5 - c) / c, (y + 0.5 - c) / c
            r2 = dx*dx + dy*dy
            if r2 > 1.0:
                row += bytes([0, 0, 0, 0])
            elif r2 > 0.55:
                row += bytes([32, 64, 160, 255])      # dark blue iris ring
            elif r2 > 0.12:
                row += bytes([80, 170, 240, 255])     # light iris
            else:
                row += bytes([10, 10, 20, 255])       # pupil
        rows.append(bytes(row))
    raw = b"".join(rows)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)
for s, n in [(32, "32x32.png"), (128, "128x128.png"), (256, "128x128@2x.png"), (512, "icon.png")]:
    png(s, n)
