"""The structure of a JPEG stream from its markers alone (no pixel is decoded): frame size, components, scans.

libjpeg, under Pillow, treats a stream that ends early as a warning, not an error: it fills what is missing
with grey (baseline) or leaves coefficients out (progressive), and Pillow ignores its warnings. What can be
checked without decoding is checked here:

- every scan that the frame needs is there: each coefficient of each component is completed (successive
  approximation down to bit 0) by some scan, so a progressive stream cut between scans is refused;
- each scan that codes DC coefficients has at least the bits its blocks need (a Huffman-coded block takes at
  least 1 bit in a progressive DC scan, 2 in a sequential scan), so a header that claims far more pixels
  than the data can hold is refused before anything is allocated.

A cut inside the entropy-coded data of a single-scan (sequential) stream is found by decoding it without the
marker that follows the scan (see ``model.images``).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

# Start-of-frame markers libjpeg decodes: sequential, extended, progressive (Huffman), and their arithmetic twins.
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC9, 0xCA})
_UNSUPPORTED_SOF = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF})  # lossless, hierarchical
_PROGRESSIVE = frozenset({0xC2, 0xCA})
_ARITHMETIC = frozenset({0xC9, 0xCA})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
_SOS, _EOI = 0xDA, 0xD9


class JpegStructureError(ValueError):
    """The stream cannot hold the image its header describes."""


@dataclass(frozen=True)
class Component:
    identifier: int
    horizontal: int  # sampling factors
    vertical: int


@dataclass(frozen=True)
class Scan:
    components: tuple[int, ...]  # component identifiers
    spectral_start: int  # Ss
    spectral_end: int  # Se
    approximation_high: int  # Ah
    approximation_low: int  # Al
    data_start: int  # the entropy-coded data: data[data_start:data_end]
    data_end: int


@dataclass(frozen=True)
class JpegStructure:
    width: int
    height: int
    progressive: bool
    arithmetic: bool
    components: tuple[Component, ...]
    scans: tuple[Scan, ...]


def parse(data: bytes) -> JpegStructure:
    """The frame and scans of the first image in ``data`` (up to its EOI or the end of the data)."""
    if not data.startswith(b"\xff\xd8"):
        raise JpegStructureError("not a JPEG stream (no start-of-image marker)")
    frame: tuple[int, int, bool, bool, tuple[Component, ...]] | None = None
    scans: list[Scan] = []
    position = 2
    while position < len(data):
        if data[position] != 0xFF:  # stray bytes between segments: libjpeg skips them with a warning, as here
            position = data.find(b"\xff", position)
            if position < 0:
                break
        while position < len(data) and data[position] == 0xFF:  # fill bytes before a marker
            position += 1
        if position >= len(data):
            break
        marker = data[position]
        position += 1
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            continue
        if position + 2 > len(data):
            break
        (length,) = struct.unpack_from(">H", data, position)
        segment = data[position + 2 : position + length]
        if length < 2 or len(segment) != length - 2:
            raise JpegStructureError(f"JPEG segment 0x{marker:02X} at byte {position - 2} is cut short")
        position += length
        if marker in _UNSUPPORTED_SOF:
            raise JpegStructureError(f"JPEG frame type 0x{marker:02X} (lossless or hierarchical) is not supported")
        if marker in _SOF_MARKERS:
            frame = _frame(marker, segment)
        elif marker == _SOS:
            if frame is None:
                raise JpegStructureError("JPEG scan before its frame header")
            end = _entropy_data_end(data, position)
            scans.append(_scan(segment, position, end))
            position = end
    if frame is None:
        raise JpegStructureError("JPEG stream has no frame header")
    width, height, progressive, arithmetic, components = frame
    return JpegStructure(width, height, progressive, arithmetic, components, tuple(scans))


def check_complete(structure: JpegStructure) -> None:
    """Raise :class:`JpegStructureError` unless every scan the frame needs is present and plausibly whole."""
    _check_coverage(structure)
    if not structure.arithmetic:
        for index, scan in enumerate(structure.scans):
            _check_scan_length(structure, index, scan)


def _frame(marker: int, segment: bytes) -> tuple[int, int, bool, bool, tuple[Component, ...]]:
    if len(segment) < 6:
        raise JpegStructureError("JPEG frame header is cut short")
    _precision, height, width, count = struct.unpack_from(">BHHB", segment)
    if len(segment) < 6 + 3 * count or count == 0:
        raise JpegStructureError("JPEG frame header is cut short")
    components = []
    for index in range(count):
        identifier, sampling, _table = segment[6 + 3 * index : 9 + 3 * index]
        horizontal, vertical = sampling >> 4, sampling & 0x0F
        if not (1 <= horizontal <= 4 and 1 <= vertical <= 4):
            raise JpegStructureError(f"JPEG component {identifier} has invalid sampling factors")
        components.append(Component(identifier, horizontal, vertical))
    if width == 0 or height == 0:
        raise JpegStructureError("JPEG frame header has no size (DNL streams are not supported)")
    return width, height, marker in _PROGRESSIVE, marker in _ARITHMETIC, tuple(components)


def _scan(segment: bytes, data_start: int, data_end: int) -> Scan:
    count = segment[0] if segment else 0
    if count == 0 or len(segment) < 4 + 2 * count:
        raise JpegStructureError("JPEG scan header is cut short")
    identifiers = tuple(segment[1 + 2 * index] for index in range(count))
    start, end, approximation = segment[1 + 2 * count : 4 + 2 * count]
    return Scan(identifiers, start, end, approximation >> 4, approximation & 0x0F, data_start, data_end)


# An FF followed by a byte that makes it a marker: neither a stuffed zero (FF 00) nor a restart (FF D0-D7).
_MARKER_IN_SCAN = re.compile(rb"\xff(?=[^\x00\xd0-\xd7])")


def _entropy_data_end(data: bytes, position: int) -> int:
    """Where the entropy-coded data starting at ``position`` ends: at the first marker that is neither a
    stuffed zero (FF 00) nor a restart marker (FF D0-D7), or at the end of the data. One scan in C: a photo's
    data holds an FF every few hundred bytes, which a loop in Python paid for one by one."""
    found = _MARKER_IN_SCAN.search(data, position)
    return found.start() if found else len(data)


def _check_coverage(structure: JpegStructure) -> None:
    completed = {component.identifier: [False] * 64 for component in structure.components}
    for scan in structure.scans:
        for identifier in scan.components:
            if identifier not in completed:
                raise JpegStructureError(f"JPEG scan names component {identifier}, which the frame does not have")
            if scan.approximation_low == 0:
                last = 63 if not structure.progressive else min(scan.spectral_end, 63)
                first = 0 if not structure.progressive else scan.spectral_start
                for coefficient in range(first, last + 1):
                    completed[identifier][coefficient] = True
    for identifier, coefficients in completed.items():
        if not all(coefficients):
            missing = coefficients.index(False)
            raise JpegStructureError(
                f"the data ends before the image does: coefficient {missing} of component {identifier} is "
                "never completed (scans are missing)"
            )


def _check_scan_length(structure: JpegStructure, index: int, scan: Scan) -> None:
    if scan.spectral_start != 0:  # AC-only progressive scans can code whole runs of blocks in a few bits
        return
    bits_per_block = 1 if structure.progressive else 2
    needed = math.ceil(_blocks(structure, scan) * bits_per_block / 8)
    present = scan.data_end - scan.data_start
    if present < needed:
        raise JpegStructureError(
            f"a {structure.width}x{structure.height} image needs at least {needed} "
            f"bytes in scan {index + 1}, which has {present}"
        )


def _blocks(structure: JpegStructure, scan: Scan) -> int:
    """How many 8x8 blocks the scan codes (libjpeg's layout: one MCU per block in a single-component scan)."""
    h_max = max(component.horizontal for component in structure.components)
    v_max = max(component.vertical for component in structure.components)
    in_scan = [component for component in structure.components if component.identifier in scan.components]
    if len(in_scan) == 1:
        component = in_scan[0]
        width = math.ceil(structure.width * component.horizontal / h_max)
        height = math.ceil(structure.height * component.vertical / v_max)
        return math.ceil(width / 8) * math.ceil(height / 8)
    mcus = math.ceil(structure.width / (8 * h_max)) * math.ceil(structure.height / (8 * v_max))
    return mcus * sum(component.horizontal * component.vertical for component in in_scan)
