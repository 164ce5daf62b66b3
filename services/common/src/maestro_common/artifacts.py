"""Content-addressed artifact store: big payloads live here and travel as URI + sha256.

Every artifact is stored at ``<root>/sha256/<first 2 hex>/<hex>/<name>``. The root is a local
directory or any fsspec URL (``file://``, ``memory://``, ``s3://`` ...). Readers always verify the
sha256 and the size before a single byte reaches the caller; a mismatch raises `CorruptArtifact`.
Writers are atomic: bytes go to a temporary name in the final directory and are then renamed
(locally) or moved (other filesystems) into place, so a reader never sees a half-written file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import mimetypes
import os
import posixpath
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem

from maestro_common.errors import CorruptArtifact, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
"""Bytes read or written per step when streaming; no artifact is ever read whole to hash it."""

SPOOL_MAX_BYTES = 16 * 1024 * 1024
"""`open_verified` keeps artifacts up to this size in memory, larger ones in a temporary file."""

DEFAULT_MEDIA_TYPE = "application/octet-stream"
JSON_MEDIA_TYPE = "application/json"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+=@-]{0,199}$")
_OUT_OF_SPACE = {errno.ENOSPC, errno.EDQUOT}


@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact lives and what its bytes must hash to."""

    uri: str
    sha256: str
    size_bytes: int
    media_type: str = DEFAULT_MEDIA_TYPE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (used by the job store and manifests)."""
        return {
            "uri": self.uri,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "media_type": self.media_type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactRef:
        """Inverse of `to_dict`."""
        return cls(
            uri=str(data["uri"]),
            sha256=str(data["sha256"]),
            size_bytes=int(data["size_bytes"]),
            media_type=str(data.get("media_type", DEFAULT_MEDIA_TYPE)),
        )


def _write_chunks(out: IO[bytes], chunks: Iterable[bytes]) -> None:
    """Write every chunk to `out` (the single place bytes hit a temporary file)."""
    for chunk in chunks:
        out.write(chunk)


def _iter_file(handle: IO[bytes]) -> Iterator[bytes]:
    """Yield a file's contents in `CHUNK_SIZE` pieces."""
    while True:
        chunk = handle.read(CHUNK_SIZE)
        if not chunk:
            return
        yield chunk


def _hash_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """sha256 hex digest and total size of a stream of chunks."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _is_out_of_space(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in _OUT_OF_SPACE


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in {".", ".."}:
        raise InvalidArgument(
            "name",
            f"{name!r} is not a valid artifact name: use 1-200 letters, digits and ._+=@- "
            "(no path separators, not starting with '.')",
        )


def _check_sha256(sha256: str, field: str = "sha256") -> None:
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
        raise InvalidArgument(field, f"{sha256!r} is not a sha256: expected 64 lowercase hex digits")


class ArtifactStore:
    """Content-addressed, verified, atomically written artifact storage under one root."""

    def __init__(self, root: str | os.PathLike[str]):
        fs, root_path = fsspec.core.url_to_fs(os.fspath(root))
        self._fs: fsspec.AbstractFileSystem = fs
        self._local = isinstance(fs, LocalFileSystem)
        self._root_path: str = root_path.rstrip("/") or "/"
        self.root_uri: str = fs.unstrip_protocol(self._root_path).rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
        self._protocols = {str(p) for p in protocols}

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root_uri!r})"

    # ----- paths and URIs -------------------------------------------------------------------

    def _dir_for(self, sha256: str) -> str:
        return posixpath.join(self._root_path, "sha256", sha256[:2], sha256)

    def _uri_for(self, path: str) -> str:
        return self._fs.unstrip_protocol(path)

    def _path_for(self, uri: str, sha256: str, *, uri_field: str = "uri",
                  sha256_field: str = "sha256") -> str:
        """The filesystem path of `uri`, refusing URIs outside this store or not matching sha256."""
        _check_sha256(sha256, sha256_field)
        if not isinstance(uri, str) or not uri:
            raise InvalidArgument(uri_field, "is empty: give the uri of an artifact in the store")
        if "://" in uri:
            protocol = uri.split("://", 1)[0]
            if protocol not in self._protocols:
                raise InvalidArgument(
                    uri_field, f"{uri!r} is outside the artifact store {self.root_uri}"
                )
            path = self._fs._strip_protocol(uri)
        elif self._local:
            path = self._fs._strip_protocol(uri)
        else:
            raise InvalidArgument(uri_field, f"{uri!r} is outside the artifact store {self.root_uri}")
        prefix = self._root_path.rstrip("/") + "/sha256/"
        if posixpath.normpath(path) != path or not path.startswith(prefix):
            raise InvalidArgument(uri_field, f"{uri!r} is outside the artifact store {self.root_uri}")
        parts = path[len(prefix):].split("/")
        if len(parts) != 3 or parts[0] != parts[1][:2] or not _SHA256_RE.match(parts[1]):
            raise InvalidArgument(
                uri_field,
                f"{uri!r} is not an artifact uri: expected {self.root_uri}/sha256/<2 hex>/<hex>/<name>",
            )
        if parts[1] != sha256:
            raise InvalidArgument(
                sha256_field, f"{sha256} does not match the hash {parts[1]} in the uri {uri!r}"
            )
        _check_name(parts[2])
        return path

    # ----- writing --------------------------------------------------------------------------

    def put_bytes(self, data: bytes, *, name: str,
                  media_type: str = DEFAULT_MEDIA_TYPE) -> ArtifactRef:
        """Store `data` under `name`; returns its reference. Storing the same bytes again is a no-op."""
        _check_name(name)
        data = bytes(data)
        sha256 = hashlib.sha256(data).hexdigest()
        chunks = (data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE))
        return self._store(chunks, sha256=sha256, size=len(data), name=name, media_type=media_type)

    def put_file(self, path: str | os.PathLike[str], *, name: str,
                 media_type: str = DEFAULT_MEDIA_TYPE) -> ArtifactRef:
        """Store a local file, streaming it (hashed in one pass, copied in a second, never whole)."""
        _check_name(name)
        source = Path(path)
        try:
            with source.open("rb") as handle:
                sha256, size = _hash_chunks(_iter_file(handle))
        except FileNotFoundError:
            raise NotFound(f"file {source} does not exist; give the path of a readable file") from None
        copied = hashlib.sha256()
        copied_size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal copied_size
            with source.open("rb") as handle:
                for chunk in _iter_file(handle):
                    copied.update(chunk)
                    copied_size += len(chunk)
                    yield chunk
            if copied.hexdigest() != sha256 or copied_size != size:
                raise CorruptArtifact(
                    f"file {source} changed while it was being stored (sha256 {sha256} then "
                    f"{copied.hexdigest()}); store it again once nothing is writing to it"
                )

        return self._store(chunks(), sha256=sha256, size=size, name=name, media_type=media_type)

    def put_json(self, obj: Any, *, name: str) -> ArtifactRef:
        """Store a JSON document (keys sorted, so equal objects give equal hashes)."""
        data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return self.put_bytes(data.encode("utf-8"), name=name, media_type=JSON_MEDIA_TYPE)

    def _store(self, chunks: Iterable[bytes], *, sha256: str, size: int, name: str,
               media_type: str) -> ArtifactRef:
        directory = self._dir_for(sha256)
        final = posixpath.join(directory, name)
        ref = ArtifactRef(uri=self._uri_for(final), sha256=sha256, size_bytes=size,
                          media_type=media_type)
        if self._already_stored(final, sha256, size):
            return ref
        try:
            if self._local:
                self._write_local(directory, final, chunks)
            else:
                self._write_fsspec(directory, final, chunks)
        except OSError as error:
            if _is_out_of_space(error):
                raise ResourceExhausted(
                    f"artifact store {self.root_uri} is out of space while writing {name} "
                    f"({size} bytes): free space there or point the store at a larger volume"
                ) from error
            raise
        return ref

    def _already_stored(self, final: str, sha256: str, size: int) -> bool:
        """True when `final` already holds exactly these bytes (then it is not rewritten)."""
        try:
            if not self._fs.exists(final):
                return False
            with self._fs.open(final, "rb") as handle:
                found = _hash_chunks(_iter_file(handle))
        except FileNotFoundError:
            return False
        if found == (sha256, size):
            return True
        log.warning("replacing corrupt artifact %s (found sha256 %s)", self._uri_for(final), found[0])
        return False

    def _write_local(self, directory: str, final: str, chunks: Iterable[bytes]) -> None:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o644)  # mkstemp makes files private; artifacts are shared
                _write_chunks(out, chunks)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _write_fsspec(self, directory: str, final: str, chunks: Iterable[bytes]) -> None:
        self._fs.makedirs(directory, exist_ok=True)
        tmp = posixpath.join(directory, f".tmp-{uuid.uuid4().hex}.part")
        try:
            with self._fs.open(tmp, "wb") as out:
                _write_chunks(out, chunks)
            self._fs.mv(tmp, final)
        except BaseException:
            try:
                if self._fs.exists(tmp):
                    self._fs.rm(tmp)
            except Exception:  # cleanup must not hide the original error
                log.warning("could not remove temporary file %s", self._uri_for(tmp), exc_info=True)
            raise

    # ----- reading --------------------------------------------------------------------------

    def resolve(self, uri: str, sha256: str, *, uri_field: str = "uri",
                sha256_field: str = "sha256") -> ArtifactRef:
        """Turn a caller's URI + sha256 into a reference (size looked up; bytes verified on read).

        `uri_field` / `sha256_field` name the request fields in `InvalidArgument` errors.
        The media type is guessed from the artifact's name.
        """
        path = self._path_for(uri, sha256, uri_field=uri_field, sha256_field=sha256_field)
        try:
            size = int(self._fs.size(path))
        except FileNotFoundError:
            raise NotFound(f"artifact {uri} does not exist in the store {self.root_uri}") from None
        name = posixpath.basename(path)
        guessed = JSON_MEDIA_TYPE if name.endswith(".json") else mimetypes.guess_type(name)[0]
        return ArtifactRef(uri=self._uri_for(path), sha256=sha256, size_bytes=size,
                           media_type=guessed or DEFAULT_MEDIA_TYPE)

    def exists(self, ref: ArtifactRef) -> bool:
        """True if the artifact's file is present (its bytes are verified only when read)."""
        return bool(self._fs.exists(self._path_for(ref.uri, ref.sha256)))

    def _open_raw(self, ref: ArtifactRef) -> IO[bytes]:
        path = self._path_for(ref.uri, ref.sha256)
        try:
            return self._fs.open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"artifact {ref.uri} does not exist in the store {self.root_uri}") from None

    def _verify(self, ref: ArtifactRef, sha256: str, size: int) -> None:
        if sha256 != ref.sha256 or size != ref.size_bytes:
            raise CorruptArtifact(
                f"artifact {ref.uri} is corrupt: expected sha256 {ref.sha256} ({ref.size_bytes} "
                f"bytes) but the stored bytes hash to {sha256} ({size} bytes); it was refused. "
                "Re-create the artifact from its source."
            )

    def read_bytes(self, ref: ArtifactRef) -> bytes:
        """The artifact's bytes, after checking their sha256 and size against `ref`."""
        with self._open_raw(ref) as handle:
            data = handle.read()
        self._verify(ref, hashlib.sha256(data).hexdigest(), len(data))
        return data

    def read_json(self, ref: ArtifactRef) -> Any:
        """A verified JSON artifact, decoded."""
        try:
            return json.loads(self.read_bytes(ref).decode("utf-8"))
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError
            raise FailedPrecondition(f"artifact {ref.uri} is not a JSON document ({error}); "
                                     "give the artifact this field expects") from None

    def open_verified(self, ref: ArtifactRef) -> BinaryIO:
        """A readable binary file holding the verified bytes (small ones in memory, big ones spooled).

        The whole artifact is verified before this returns; close the file (or use ``with``).
        """
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES, mode="w+b")
        try:
            digest = hashlib.sha256()
            size = 0
            with self._open_raw(ref) as handle:
                for chunk in _iter_file(handle):
                    digest.update(chunk)
                    size += len(chunk)
                    spool.write(chunk)
            self._verify(ref, digest.hexdigest(), size)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool  # type: ignore[return-value]

    def copy_to_local(self, ref: ArtifactRef, dest_path: str | os.PathLike[str]) -> Path:
        """Copy a verified artifact to a local path (atomically: nothing appears there if it is corrupt)."""
        dest = Path(dest_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out, self._open_raw(ref) as handle:
                os.fchmod(out.fileno(), 0o644)
                for chunk in _iter_file(handle):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            self._verify(ref, digest.hexdigest(), size)
            os.replace(tmp, dest)
        except BaseException as error:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            if _is_out_of_space(error):
                raise ResourceExhausted(
                    f"{dest.parent} is out of space while copying {ref.uri} ({ref.size_bytes} bytes): "
                    "free space there or copy to a larger volume"
                ) from error
            raise
        return dest
