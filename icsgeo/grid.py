"""A classified grid over polygons: most points find their polygon by integer division of their
coordinates, and only points near a boundary need the polygon test.

The polygons' extent is cut into square cells of :data:`CELL_M` metres, grouped into blocks of
:data:`BLOCK` x :data:`BLOCK` cells. Each cell is, exactly:

- **inside one polygon**: no polygon's boundary comes near the cell and the cell lies in exactly one
  polygon; it stores that polygon's row, and every point in it (its edges included) is in that
  polygon and in no other;
- **outside**: no boundary comes near it and it lies in no polygon (:data:`OUTSIDE`);
- **to test**: a boundary passes through or near it, or it lies in two overlapping polygons
  (:data:`TEST`): its points go to the polygon test, which alone decides ties on shared edges.

A block whose cells all have the same answer is stored once in the coarse table; the others keep
their cells as 4-bit codes into the block's own list of at most :data:`PALETTE` polygons (a cell of
any further polygon is left to the test, which is always safe). Cell sizes are powers of two and
the origin a multiple of the block size, so that a point's cell is exact arithmetic; boundaries are
marked with a margin far above rounding.

How it is classified (all vectorised): every ring is cut into pieces no longer than a cell, and
every cell that a piece's bounding box (plus the margin) touches is a boundary cell. The other
cells form connected regions (within blocks, and across block edges, joined as a graph) that no
boundary enters, so each region lies wholly inside the same polygons: one point of each region,
its cell's centre, is put to the polygon test given by the caller (the same test the points not
answered by the grid get), and the region takes the answer.

The grid is cached like the other derived layers: a NumPy ``.npz`` under ``<cache>/derived/``
whose name is a digest of the polygons' bytes (their WKB, in order), the cell and block sizes and
icsgeo's version and code; written atomically, and checked (shapes, checksums, the digest it was
built from) on every read, so a damaged or foreign file is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from .settings import get_settings
from .sources.cache import atomic_write, key_digest

__all__ = ["CELL_M", "BLOCK", "OUTSIDE", "TEST", "MAX_BLOCKS", "PolygonGrid", "suits", "build_grid", "polygon_digest",
           "grid_for"]

log = logging.getLogger("icsgeo")

#: Cell size in metres (a power of two). On England and Wales's 35,672 LSOA polygons (20 m BGC),
#: measured by ``benchmarks/points.py --cells 32,64,128`` on the benchmark's 1.5 M points: 32 m
#: cells answer 80% of them (50 MB, built in about 5 s), 64 m 65% (17 MB, 2.5 s), 128 m 45%; 16 m
#: would answer 89% but take about 100 MB and 15 s.
CELL_M = 32.0
#: Cells per block side (a power of two).
BLOCK = 8
#: The answer of a cell in no polygon.
OUTSIDE = -1
#: The answer of a cell whose points need the polygon test.
TEST = -2
_FORMAT = 2
_CHUNK = 64_000  # ring coordinates (and cells) marked at a time
#: The most polygons a refined block names (4-bit codes; 0 and 1 are outside and test).
PALETTE = 14

#: ``pairs(x, y) -> (point, polygon)``: the polygon test, as in :func:`icsgeo.locate.lsoa_of_points`.
PairsTest = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


class PolygonGrid:
    """The classified grid of a sequence of polygons (see the module's docstring).

    ``coarse``: one ``int32`` per block (``ny, nx``): a polygon's row, :data:`OUTSIDE`,
    :data:`TEST`, or ``-3 - k`` for the ``k``-th refined block. A refined block's cells are 4-bit
    codes, two to a byte (``codes[k]``: ``B x B/2``): 0 outside, 1 to test, ``2 + i`` the block's
    ``i``-th polygon, ``palette[starts[k] + i]`` (at most :data:`PALETTE` a block; a cell of any
    further polygon is left to the test). ``origin``: the south-west corner of block (0, 0).
    """

    def __init__(self, *, origin: tuple[float, float], cell: float, block: int, coarse: np.ndarray,
                 codes: np.ndarray, starts: np.ndarray, palette: np.ndarray, polygons: int, digest: str,
                 seconds: float = 0.0):
        self.origin = (float(origin[0]), float(origin[1]))
        self.cell = float(cell)
        self.block = int(block)
        self.coarse = coarse
        self.codes = codes
        self.starts = starts
        self.palette = palette
        self.polygons = int(polygons)
        self.digest = digest
        self.seconds = seconds  # build time (0 when read from the cache)

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.coarse, self.codes, self.starts, self.palette)))

    def classify(self, x, y) -> np.ndarray:
        """The grid's answer for each point: a polygon's row, :data:`OUTSIDE` or :data:`TEST`
        (``int32``); points outside the grid's extent (or not finite) are :data:`OUTSIDE`."""
        x = np.asarray(x, dtype="float64")
        y = np.asarray(y, dtype="float64")
        out = np.full(len(x), OUTSIDE, dtype=np.int32)
        ny, nx = self.coarse.shape
        b = self.block
        u = (x - self.origin[0]) / self.cell
        v = (y - self.origin[1]) / self.cell
        inside = (u >= 0) & (u < nx * b) & (v >= 0) & (v < ny * b)  # NaN is never inside
        rows = np.flatnonzero(inside)
        if not len(rows):
            return out
        i = u[rows].astype(np.int64)  # non-negative: truncation is floor
        j = v[rows].astype(np.int64)
        shift = b.bit_length() - 1
        top = self.coarse[j >> shift, i >> shift]
        out[rows] = np.where(top > -3, top, TEST)
        fine = np.flatnonzero(top <= -3)
        if len(fine):
            k = -3 - top[fine].astype(np.int64)
            li = i[fine] & (b - 1)
            code = (self.codes[k, j[fine] & (b - 1), li >> 1] >> ((li & 1) << 2).astype(np.uint8)) & 0xF
            val = np.where(code == 0, OUTSIDE, TEST).astype(np.int32)
            known = code >= 2
            val[known] = self.palette[self.starts[k[known]] + code[known] - 2]
            out[rows[fine]] = val
        return out

    # ------------------------------------------------------------------ storage
    _ARRAYS = ("coarse", "codes", "starts", "palette")

    def save(self, path: Path) -> None:
        """Write the grid atomically (the file appears only when complete)."""
        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        arrays["meta"] = np.array([_FORMAT, self.block, self.polygons], dtype=np.int64)
        arrays["geom"] = np.array([self.origin[0], self.origin[1], self.cell], dtype=np.float64)
        arrays["crc"] = np.array([zlib.crc32(a.tobytes()) for a in arrays.values()], dtype=np.int64)
        arrays["digest"] = np.frombuffer(self.digest.encode(), dtype=np.uint8)
        atomic_write(Path(path), lambda tmp: np.savez(tmp, **arrays))

    @classmethod
    def load(cls, path: Path, *, digest: str, cell: float, block: int) -> "PolygonGrid":
        """Read a grid written by :meth:`save`, checking that it is whole and was built from the
        polygons of ``digest`` with these sizes; raises ``ValueError`` otherwise."""
        names = (*cls._ARRAYS, "meta", "geom")
        with np.load(path, allow_pickle=False) as f:
            a = {k: f[k] for k in (*names, "crc", "digest")}
        if a["crc"].tolist() != [zlib.crc32(a[k].tobytes()) for k in names]:
            raise ValueError("checksum mismatch")
        fmt, blk, polygons = (int(v) for v in a["meta"])
        if fmt != _FORMAT or blk != block or float(a["geom"][2]) != cell:
            raise ValueError("built with other sizes or format")
        if a["digest"].tobytes().decode() != digest:
            raise ValueError("built from other polygons")
        coarse, codes, starts, palette = (a[k] for k in cls._ARRAYS)
        n = len(codes)
        if coarse.dtype != np.int32 or coarse.ndim != 2 or codes.dtype != np.uint8 or codes.shape[1:] != (block, block // 2) \
                or starts.dtype != np.int64 or starts.shape != (n + 1,) or palette.dtype != np.int32 \
                or (n and (starts[0] != 0 or starts[-1] != len(palette) or (np.diff(starts) > PALETTE).any())) \
                or (coarse.size and (coarse.min() < -3 - n or coarse.max() >= polygons)) \
                or (palette.size and (palette.min() < 0 or palette.max() >= polygons)):
            raise ValueError("malformed arrays")
        return cls(origin=(a["geom"][0], a["geom"][1]), cell=cell, block=block, coarse=coarse, codes=codes,
                   starts=starts, palette=palette, polygons=polygons, digest=digest)


def _packed(value: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell answers (``n, B*B`` int32: polygon rows, :data:`OUTSIDE`, :data:`TEST`) as 4-bit codes
    two to a byte, each block's starts in the palette and the palette (see :class:`PolygonGrid`)."""
    n = len(value)
    codes = np.empty((n, block, block // 2), dtype=np.uint8)
    counts = np.zeros(n, dtype=np.int64)
    parts = []
    step = max(1, (4 * _CHUNK) // (block * block))
    for r0 in range(0, n, step):  # a chunk of blocks at a time
        v = value[r0:r0 + step]
        order = np.argsort(v, axis=1, kind="stable")
        s = np.take_along_axis(v, order, axis=1)  # each block's answers in order: outside and test first
        new = np.ones(s.shape, dtype=bool)
        new[:, 1:] = s[:, 1:] != s[:, :-1]
        new &= s >= 0
        rank = np.cumsum(new, axis=1)  # the place of each cell's polygon among its block's, from 1
        named = (s >= 0) & (rank <= PALETTE)  # beyond the palette: left to the test
        counts[r0:r0 + len(v)] = (new & named).sum(axis=1)
        parts.append(s[new & named])
        code = np.empty(s.shape, dtype=np.uint8)
        np.put_along_axis(code, order, np.where(named, rank + 1, np.where(s == OUTSIDE, 0, 1)).astype(np.uint8), axis=1)
        code = code.reshape(len(v), block, block)
        codes[r0:r0 + len(v)] = code[:, :, 0::2] | (code[:, :, 1::2] << 4)
    starts = np.r_[0, np.cumsum(counts)].astype(np.int64)
    palette = np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, np.int32)
    return codes, starts, palette


#: The most blocks a grid may have (its coarse table: 4 bytes each): polygons spread wider than this
#: at :data:`CELL_M` take the polygon test alone.
MAX_BLOCKS = 16_000_000


def suits(geoms, *, cell: float | None = None, block: int | None = None) -> bool:
    """Whether a grid can be made of ``geoms``: Polygons and MultiPolygons (or missing), spread over
    no more than :data:`MAX_BLOCKS` blocks."""
    import shapely

    cell, block = _sizes(cell, block)
    geoms = np.asarray(geoms, dtype=object)
    if not np.isin(shapely.get_type_id(geoms), (-1, 3, 6)).all():
        return False
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return True  # nothing to place: an empty grid
    size = cell * block
    return (np.floor(maxx / size) - np.floor(minx / size) + 2) * (np.floor(maxy / size) - np.floor(miny / size) + 2) <= MAX_BLOCKS


def _sizes(cell, block) -> tuple[float, int]:
    """The cell and block sizes asked for, else :data:`CELL_M` and :data:`BLOCK` as they are now."""
    return float(CELL_M if cell is None else cell), int(BLOCK if block is None else block)


def polygon_digest(geoms) -> str:
    """A digest of the polygons' bytes: their WKB (2D, little-endian), in order."""
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    wkb = shapely.to_wkb(geoms, output_dimension=2, byte_order=1, include_srid=False)
    h = hashlib.sha256(f"polygons:{len(geoms)}:".encode())
    h.update(np.array([len(w) if w is not None else -1 for w in wkb], dtype=np.int64).tobytes())
    h.update(b"".join(w for w in wkb if w is not None))
    return h.hexdigest()


def _pieces(xy: np.ndarray, ring: np.ndarray, cell: float):
    """The rings' segments cut into pieces whose extent is at most a cell along each axis:
    ``(x0, y0, x1, y1)`` arrays (a piece's ends are within rounding of the segment)."""
    same = ring[1:] == ring[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    d = b - a
    n = np.maximum(1, np.ceil(np.abs(d).max(axis=1) / cell)).astype(np.int64)
    if (n == 1).all():
        return a[:, 0], a[:, 1], b[:, 0], b[:, 1]
    seg = np.repeat(np.arange(len(a)), n)
    k = np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
    t0 = k / n[seg]
    t1 = (k + 1) / n[seg]
    return (a[seg, 0] + d[seg, 0] * t0, a[seg, 1] + d[seg, 1] * t0,
            a[seg, 0] + d[seg, 0] * t1, a[seg, 1] + d[seg, 1] * t1)


def _somewhere(labels: np.ndarray, n: int) -> np.ndarray:
    """For each label ``0..n-1``, the position of one element carrying it (all labels occur)."""
    where = np.zeros(n, dtype=np.int64)
    for start in range(0, len(labels), 4 * _CHUNK):  # a chunk at a time: no position array as long as the labels
        where[labels[start:start + 4 * _CHUNK]] = np.arange(start, min(start + 4 * _CHUNK, len(labels)))
    return where


def build_grid(geoms, pairs: PairsTest, *, cell: float | None = None, block: int | None = None,
               digest: str | None = None) -> PolygonGrid:
    """Classify the grid of ``geoms`` (Polygons and MultiPolygons, in the order their rows are
    answered); ``pairs`` is the polygon test for the one point of each boundary-free region."""
    import shapely
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    t_start = time.perf_counter()
    cell, block = _sizes(cell, block)
    if cell <= 0 or np.log2(cell) != np.round(np.log2(cell)) or block < 2 or block & (block - 1):
        raise ValueError(f"cell ({cell}) and block ({block}) must be powers of two")
    geoms = np.asarray(geoms, dtype=object)
    digest = digest or polygon_digest(geoms)
    types = shapely.get_type_id(geoms)
    present = ~shapely.is_missing(geoms)
    present[present] = ~shapely.is_empty(geoms[present])
    if not np.isin(types[present], (3, 6)).all() or not suits(geoms, cell=cell, block=block):
        raise ValueError(f"no grid of {cell:g} m cells for these geometries: Polygons and MultiPolygons only, "
                         f"over at most {MAX_BLOCKS:,} blocks")
    size = cell * block
    if not present.any():
        return PolygonGrid(origin=(0.0, 0.0), cell=cell, block=block, coarse=np.zeros((0, 0), np.int32),
                           codes=np.zeros((0, block, block // 2), np.uint8), starts=np.zeros(1, np.int64),
                           palette=np.zeros(0, np.int32), polygons=len(geoms), digest=digest,
                           seconds=time.perf_counter() - t_start)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms[present])
    # a margin far above rounding: pieces' ends and cell arithmetic are off by a few ulps at most
    eps = 1e-9 * max(1.0, abs(minx), abs(miny), abs(maxx), abs(maxy), size)
    x0 = np.floor((minx - eps) / size) * size
    y0 = np.floor((miny - eps) / size) * size
    nx = int((maxx + eps - x0) // size) + 1
    ny = int((maxy + eps - y0) // size) + 1
    ncx, ncy = nx * block, ny * block
    shift = block.bit_length() - 1

    # 1. boundary cells: every cell touched by a piece of a ring (chunk by chunk: bounded memory)
    rings = shapely.get_rings(shapely.get_parts(geoms[present]))
    cum = np.cumsum(shapely.get_num_coordinates(rings))
    kind = np.int32 if ncx * ncy < 2**31 else np.int64
    marks = [np.zeros(0, dtype=kind)]  # flat cell numbers, row by row
    start = 0
    for stop in np.unique(np.r_[np.searchsorted(cum, np.arange(_CHUNK, cum[-1], _CHUNK)) + 1, len(rings)]):
        xy, ring = shapely.get_coordinates(rings[start:stop], return_index=True)
        start = stop
        px, py, qx, qy = _pieces(xy, ring, cell)
        if not len(px):
            continue
        i0 = np.floor((np.minimum(px, qx) - eps - x0) / cell).astype(np.int64)
        i1 = np.floor((np.maximum(px, qx) + eps - x0) / cell).astype(np.int64)
        j0 = np.floor((np.minimum(py, qy) - eps - y0) / cell).astype(np.int64)
        j1 = np.floor((np.maximum(py, qy) + eps - y0) / cell).astype(np.int64)
        span_i, span_j = i1 - i0, j1 - j0
        for oi in range(int(span_i.max()) + 1):
            for oj in range(int(span_j.max()) + 1):
                sel = (span_i >= oi) & (span_j >= oj)
                marks.append((np.clip(j0[sel] + oj, 0, ncy - 1) * ncx + np.clip(i0[sel] + oi, 0, ncx - 1)).astype(kind))
    parts = marks  # a list of arrays, kept apart (no concatenated copy)

    def block_and_cell(part):
        cj, ci = np.divmod(part.astype(np.int64), ncx)
        return (cj >> shift) * nx + (ci >> shift), (cj & (block - 1)) * block + (ci & (block - 1))

    mixed = np.zeros(ny * nx, dtype=bool)
    for part in parts:
        mixed[block_and_cell(part)[0]] = True
    rank = (np.cumsum(mixed) - 1).astype(np.int32)
    n_mixed = int(mixed.sum())
    boundary = np.zeros(n_mixed * block * block, dtype=bool)
    for part in parts:
        top, within = block_and_cell(part)
        boundary[rank[top] * (block * block) + within] = True
    del marks, parts
    boundary = boundary.reshape(n_mixed, block, block)

    # 2. boundary-free regions: blocks, the cells of mixed blocks, joined across block edges
    top_lab, n_top = ndimage.label(~mixed.reshape(ny, nx))
    top_lab = top_lab.ravel()
    in_block = np.zeros((3, 3, 3), dtype=bool)
    in_block[1] = ndimage.generate_binary_structure(2, 1)
    cell_lab, n_cell = ndimage.label(~boundary, structure=in_block)
    del boundary  # cell_lab == 0 is a boundary cell

    def node_of_block(flat):  # the region node of a boundary-free block
        return top_lab[flat] - 1

    def node_of_cell(lab):  # the region node of a cell label (> 0)
        return lab + (n_top - 1)

    edges_u, edges_v = [], []
    ids = np.flatnonzero(mixed)
    for step, a_side, b_side, has_next in (
            (1, (slice(None), -1), (slice(None), 0), ids % nx != nx - 1),  # the block to the east
            (nx, (-1, slice(None)), (0, slice(None)), ids // nx != ny - 1)):  # the block to the north
        prev = ids - step
        has_prev = ids % nx != 0 if step == 1 else ids // nx != 0
        for a_sel, b_sel, a_mixed, b_mixed in (
                (ids[has_next & mixed[np.minimum(ids + step, ny * nx - 1)]], None, True, True),
                (ids[has_next & ~mixed[np.minimum(ids + step, ny * nx - 1)]], None, True, False),
                (prev[has_prev & ~mixed[np.maximum(prev, 0)]], None, False, True)):
            b_sel = a_sel + step
            if not len(a_sel):
                continue
            la = cell_lab[(rank[a_sel],) + a_side] if a_mixed else None  # (pairs, block)
            lb = cell_lab[(rank[b_sel],) + b_side] if b_mixed else None
            if a_mixed and b_mixed:
                ok = (la > 0) & (lb > 0)
                ok[:, 1:] &= (la[:, 1:] != la[:, :-1]) | (lb[:, 1:] != lb[:, :-1]) | ~ok[:, :-1]  # once per run
                edges_u.append(node_of_cell(la[ok]))
                edges_v.append(node_of_cell(lb[ok]))
            elif a_mixed:
                ok = la > 0
                ok[:, 1:] &= (la[:, 1:] != la[:, :-1]) | ~ok[:, :-1]
                edges_u.append(node_of_cell(la[ok]))
                edges_v.append(np.broadcast_to(node_of_block(b_sel)[:, None], la.shape)[ok])
            else:
                ok = lb > 0
                ok[:, 1:] &= (lb[:, 1:] != lb[:, :-1]) | ~ok[:, :-1]
                edges_u.append(np.broadcast_to(node_of_block(a_sel)[:, None], lb.shape)[ok])
                edges_v.append(node_of_cell(lb[ok]))
    n_nodes = n_top + n_cell
    u = np.concatenate(edges_u).astype(np.int32) if edges_u else np.zeros(0, np.int32)
    v = np.concatenate(edges_v).astype(np.int32) if edges_v else np.zeros(0, np.int32)
    graph = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(n_nodes, n_nodes)).tocsr()
    n_regions, region = connected_components(graph, directed=False)
    del graph, u, v, edges_u, edges_v

    # 3. one point per region (a boundary-free block's or cell's centre) through the polygon test
    node_x = np.empty(n_nodes)
    node_y = np.empty(n_nodes)
    some = _somewhere(top_lab, n_top + 1)[1:]  # a block of each label (any one will do)
    node_x[:n_top] = x0 + ((some % nx) + 0.5) * size
    node_y[:n_top] = y0 + ((some // nx) + 0.5) * size
    flat = cell_lab.ravel()
    some = _somewhere(flat, n_cell + 1)[1:]
    blk = np.flatnonzero(mixed)[some // (block * block)]
    within = some % (block * block)
    node_x[n_top:] = x0 + ((blk % nx) * block + within % block + 0.5) * cell
    node_y[n_top:] = y0 + ((blk // nx) * block + within // block + 0.5) * cell
    rep = _somewhere(region, n_regions)
    qi, ti = pairs(node_x[rep], node_y[rep])
    hits = np.bincount(qi, minlength=n_regions)
    answer = np.full(n_regions, OUTSIDE, dtype=np.int32)
    single = np.flatnonzero(hits[qi] == 1)
    answer[qi[single]] = ti[single]
    answer[hits > 1] = TEST  # overlapping polygons: the polygon test decides

    # 4. the stored answers
    coarse = np.full(ny * nx, OUTSIDE, dtype=np.int32)
    free = ~mixed
    coarse[free] = answer[region[top_lab[free] - 1]]
    coarse[mixed] = -3 - np.arange(n_mixed)
    coarse = coarse.reshape(ny, nx)
    by_label = np.empty(n_cell + 1, dtype=np.int32)  # the answer of each cell label; 0: a boundary cell
    by_label[0] = TEST
    by_label[1:] = answer[region[n_top:]]
    value = by_label[cell_lab.reshape(n_mixed, block * block)]
    del cell_lab
    codes, starts, palette = _packed(value, block)
    grid = PolygonGrid(origin=(x0, y0), cell=cell, block=block, coarse=coarse, codes=codes, starts=starts,
                       palette=palette, polygons=len(geoms), digest=digest, seconds=time.perf_counter() - t_start)
    log.info("polygon grid: %d polygons, %g m cells, %d of %d blocks refined, %.1f MB, built in %.1f s",
             len(geoms), cell, n_mixed, ny * nx, grid.nbytes / 1e6, grid.seconds)
    return grid


# ---------------------------------------------------------------------------------------------
# The grid of a polygon set: in memory, on disk, or built
# ---------------------------------------------------------------------------------------------

_LOCK = threading.Lock()
_GRIDS: dict[tuple, PolygonGrid] = {}  # (digest, cell, block) -> grid, the last few used in this process
_KEEP = 2
_DIGESTS: list = []  # [(weakref to the geometry array, the geometries' ids, digest)]


def _digest_of(geoms: np.ndarray) -> str:
    """:func:`polygon_digest`, remembered for the geometry array last seen: shapely geometries are
    immutable, so the same live array holding the same objects holds the same bytes."""
    ids = np.fromiter(map(id, geoms), dtype=np.int64, count=len(geoms))
    for ref, seen, digest in _DIGESTS:
        if ref() is geoms and np.array_equal(seen, ids):
            return digest
    digest = polygon_digest(geoms)
    try:
        _DIGESTS[:] = [(weakref.ref(geoms), ids, digest)]
    except TypeError:  # not weak-referenceable: no memo
        pass
    return digest


def grid_path(digest: str, cell: float, block: int) -> Path:
    key = {"polygon_grid": _FORMAT, "polygons": digest, "cell": cell, "block": block}
    return get_settings().cache_dir / "derived" / f"polygon-grid-{key_digest(key)}.npz"


def grid_for(geoms, pairs: PairsTest, *, cell: float | None = None, block: int | None = None,
             build: bool = True) -> PolygonGrid | None:
    """The grid of ``geoms`` (an array of Polygons/MultiPolygons): from this process's memory, from
    the cache, or built (and cached; with ``build=False``, None instead). A cache file that cannot
    be read or checked is rebuilt; a cache that cannot be written is logged and skipped."""
    cell, block = _sizes(cell, block)
    geoms = geoms if isinstance(geoms, np.ndarray) else np.asarray(geoms, dtype=object)
    digest = _digest_of(geoms)
    key = (digest, float(cell), int(block))
    with _LOCK:
        grid = _GRIDS.get(key)
    if grid is not None:
        return grid
    path = grid_path(digest, cell, block)
    grid = None
    if path.is_file():
        try:
            grid = PolygonGrid.load(path, digest=digest, cell=float(cell), block=int(block))
            log.debug("cache hit %s", path.name)
        except Exception as exc:  # damaged, half-written by a foreign writer, or not ours: rebuild
            log.warning("ignoring unreadable polygon grid %s (%s); rebuilding", path, exc)
    if grid is None:
        log.debug("cache miss %s", path.name)
        if not build:
            return None
        grid = build_grid(geoms, pairs, cell=cell, block=block, digest=digest)
        try:
            grid.save(path)
        except OSError as exc:
            log.warning("could not write the polygon grid %s (%s); continuing without caching", path, exc)
    with _LOCK:
        _GRIDS[key] = grid
        while len(_GRIDS) > _KEEP:
            _GRIDS.pop(next(iter(_GRIDS)))
    return grid
