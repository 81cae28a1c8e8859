"""Versioned artifact sets and the pointer that says which one is current.

    <root>/versions/<version>/manifest.json    what the set holds, with a sha256 and size per file
    <root>/versions/<version>/...              weights, embeddings, id maps, metrics, config, index, policies
    <root>/CURRENT                             the published version's name
    <root>/in-use/<host>-<pid>                 the version a running service serves, touched while it runs

ArtifactVersion names every file of a version; nothing else spells a file name. A version is written under a
temporary name and renamed into place when complete, so a reader never sees half a set; publishing verifies
every checksum first and then replaces CURRENT atomically (os.replace), so a service that re-reads the pointer
swaps from one complete set to another. A published version never changes: adding to one (an RL policy)
derives a new version that links the base's files and adds its own, and a service follows it once published.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from graphrec.training.artifact_errors import ArtifactError as ArtifactError

MANIFEST = "manifest.json"
IN_USE_FRESH_S = 600  # a service's note older than this is one that stopped without removing it
STALE_STAGING_S = 3_600  # a staging folder this old is a killed job's


@dataclass(frozen=True)
class ArtifactRoot:
    """The artifact folder's layout (the module docstring draws it): where its versions, its pointer, the notes
    of running services and the refresh's lock and report are."""

    path: Path

    @classmethod
    def containing(cls, version: Path) -> ArtifactRoot:
        """The root that holds the version folder ``version``."""
        return cls(version.parent.parent)

    @property
    def versions(self) -> Path:
        return self.path / "versions"

    def version(self, name: str) -> Path:
        return self.versions / name

    @property
    def pointer(self) -> Path:
        """The published version's name."""
        return self.path / "CURRENT"

    @property
    def in_use(self) -> Path:
        """One note per running service: the version it serves."""
        return self.path / "in-use"

    @property
    def refresh_lock(self) -> Path:
        """Held by the running refresh (an OS lock, released when its process dies)."""
        return self.path / ".refresh.lock"

    @property
    def refresh_report(self) -> Path:
        """The last refresh's report."""
        return self.path / "refresh.json"


@dataclass(frozen=True)
class ArtifactVersion:
    """The folder of one artifact version and the path of every file it holds."""

    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def root(self) -> Path:
        return ArtifactRoot.containing(self.folder).path

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    @property
    def user_embeddings(self) -> Path:
        return self.folder / "user_embeddings.npy"

    @property
    def item_embeddings(self) -> Path:
        return self.folder / "item_embeddings.npy"

    @property
    def weights(self) -> Path:
        return self.folder / "weights.pt"

    @property
    def model_config(self) -> Path:
        """The encoder's name and tuned configuration (the refresh starts from them)."""
        return self.folder / "config.json"

    @property
    def metrics(self) -> Path:
        return self.folder / "metrics.json"

    @property
    def index(self) -> Path:
        return self.folder / "index.faiss"

    @property
    def index_info(self) -> Path:
        return self.folder / "index.json"

    def id_map(self, kind: str) -> Path:
        """users or items: the typed id of each embedding row (Parquet; a version saved as CSV has .csv)."""
        return self.folder / f"{kind}.parquet"

    def table(self, name: str) -> Path:
        """entities or relations: the KG id maps, as CSV."""
        return self.folder / f"{name}.csv"

    @property
    def policies(self) -> Path:
        """The RL checkpoints trained on this version's embeddings (training.rl.train_for_version)."""
        return self.folder / "policies"

    @property
    def policy_records(self) -> Path:
        """policies.json: per policy, how it was trained and what it scored."""
        return self.policies / "policies.json"

    def checkpoint(self, policy: str) -> Path:
        return self.policies / f"{policy}.pt"


def dataset_fingerprint(*frames: pd.DataFrame) -> str:
    """A sha256 of the frames' contents, independent of row order."""
    digest = hashlib.sha256()
    for frame in frames:
        hashed = pd.util.hash_pandas_object(frame, index=False).sort_values().to_numpy()
        digest.update(hashed.tobytes())
        digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_version(root: Path, write_files: Callable[[Path], None], metadata: dict[str, Any]) -> Path:
    """Create a new version: ``write_files(folder)`` fills it, then the manifest is written and it is renamed
    into place. Returns the version's folder."""
    versions = ArtifactRoot(root).versions
    versions.mkdir(parents=True, exist_ok=True)
    version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    staging = versions / f".staging-{version}"
    staging.mkdir()
    try:
        write_files(staging)
        seal(staging, {"version": version, "created": datetime.now(UTC).isoformat(), **metadata})
        final = versions / version
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def derive_version(base: Path, add_files: Callable[[Path], None], metadata: dict[str, Any]) -> Path:
    """A new version holding the files of ``base`` (hard links: a version's files are only ever replaced, never
    written in place) plus what ``add_files(folder)`` writes or replaces; its manifest is the base's, with
    ``derived_from`` and ``metadata`` added. ``base`` itself does not change."""
    verify(base)
    inherited = {key: value for key, value in read_manifest(base).items()
                 if key not in ("files", "version", "created")}

    def write(folder: Path) -> None:
        for source in sorted(base.rglob("*")):
            if not source.is_file() or source.name == MANIFEST:
                continue
            target = folder / source.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:  # a file system without hard links
                shutil.copy2(source, target)
        add_files(folder)

    metadata = {**inherited, "derived_from": base.name, **metadata}
    return write_version(ArtifactRoot.containing(base).path, write, metadata)


def replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file and os.replace: a reader never sees it half written, and a file
    that a derived version shares by hard link is replaced there, never changed in place."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def seal(folder: Path, metadata: dict[str, Any]) -> None:
    """(Re)write the manifest with a checksum of every file in ``folder``."""
    files = {str(p.relative_to(folder)): {"sha256": _sha256(p), "bytes": p.stat().st_size}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    manifest = {**metadata, "files": files}
    replace_file(folder / MANIFEST, lambda path: path.write_text(json.dumps(manifest, indent=2, default=str)))


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{folder}: no {MANIFEST}; the artifact set is partial")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path}: unreadable manifest ({error})") from error


def verify(folder: Path) -> dict[str, Any]:
    """The manifest, after checking that every file it lists is present with its recorded checksum."""
    manifest = read_manifest(folder)
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{folder}: {name} is missing; the artifact set is partial")
        if path.stat().st_size != expected["bytes"] or _sha256(path) != expected["sha256"]:
            raise ArtifactError(f"{folder}: {name} does not match its checksum; the artifact set is corrupt")
    return manifest


def oldest_first(versions: Path) -> list[Path]:
    """The version folders by creation time (the manifest's, to the microsecond: names give only the second)."""
    def created(folder: Path) -> tuple[str, str]:
        try:
            return str(read_manifest(folder).get("created", "")), folder.name
        except ArtifactError:  # a damaged version sorts by its name
            return "", folder.name

    return sorted((p for p in versions.glob("*") if p.is_dir() and not p.name.startswith(".")), key=created)


def version_summary(folder: Path) -> dict[str, Any]:
    """What an operator looks at of one version: its manifest (less the file list), its training record
    (metrics.json: validation NDCG, best epoch, loss per epoch) and each policy's record (policies.json, less the
    per-user returns), without verifying checksums. A damaged version says so under ``error``."""
    version = ArtifactVersion(folder)
    summary: dict[str, Any] = {"version": folder.name}
    try:
        manifest = read_manifest(folder)
        summary |= {key: value for key, value in manifest.items() if key != "files"}
        if version.metrics.is_file():
            summary["training"] = json.loads(version.metrics.read_text())
        records = json.loads(version.policy_records.read_text()) if version.policy_records.is_file() else {}
        summary["policies"] = {name: {key: value for key, value in record.items()
                                      if key not in ("evaluation_returns", "evaluation_fingerprint")}
                               for name, record in records.items()}
    except (ArtifactError, json.JSONDecodeError, OSError) as error:
        summary["error"] = str(error)
    return summary


def newest_version(root: Path) -> Path:
    """The most recently written version."""
    versions = ArtifactRoot(root).versions
    folders = oldest_first(versions)
    if not folders:
        raise ArtifactError(f"{versions}: no artifact versions; run `graphrec train` first")
    return folders[-1]


def version_folder(root: Path, version: str | None = None) -> Path:
    """The folder of ``version``, of the current version when None, or of the newest when nothing is current."""
    if version is None:
        version = current_version(root)
    if version is None:
        return newest_version(root)
    folder = ArtifactRoot(root).version(version)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: no such artifact version")
    return folder


def note_in_use(root: Path, holder: str, version: str | None) -> None:
    """Say (and keep saying: call it again within IN_USE_FRESH_S) that ``holder`` serves ``version``; None
    withdraws the note. Pruning never removes a version a fresh note names."""
    note = ArtifactRoot(root).in_use / holder
    if version is None:
        note.unlink(missing_ok=True)
        return
    note.parent.mkdir(parents=True, exist_ok=True)
    replace_file(note, lambda path: path.write_text(version + "\n"))


def in_use(root: Path) -> set[str]:
    """The versions that running services (fresh notes) serve."""
    now, found = time.time(), set()
    for note in ArtifactRoot(root).in_use.glob("*"):
        try:
            if note.is_file() and now - note.stat().st_mtime < IN_USE_FRESH_S:
                found.add(note.read_text().strip())
        except OSError:  # a note withdrawn meanwhile
            continue
    return found


def prune(root: Path, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` versions, never the current one nor one a running service serves, and
    the staging folders of jobs killed over STALE_STAGING_S ago; the names removed. A derived version holds
    its own links to the files it shares, so removing its base takes nothing from it."""
    versions = ArtifactRoot(root).versions
    if not versions.is_dir():
        return []
    protected = in_use(root) | {current_version(root)}
    names = [folder.name for folder in oldest_first(versions)]
    removed = [name for name in names[: max(len(names) - keep, 0)] if name not in protected]
    for name in removed:
        shutil.rmtree(versions / name, ignore_errors=True)
    for staging in versions.glob(".staging-*"):
        if time.time() - staging.stat().st_mtime > STALE_STAGING_S:
            shutil.rmtree(staging, ignore_errors=True)
    return removed


def current_version(root: Path) -> str | None:
    pointer = ArtifactRoot(root).pointer
    return pointer.read_text().strip() or None if pointer.is_file() else None


def publish(root: Path, version: str) -> dict[str, Any]:
    """Make ``version`` current, after verifying it; a partial or corrupt version is refused."""
    layout = ArtifactRoot(root)
    folder = layout.version(version)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: no such artifact version")
    manifest = verify(folder)
    temporary = layout.pointer.with_name(f".{layout.pointer.name}.{uuid.uuid4().hex}")
    temporary.write_text(version + "\n")
    os.replace(temporary, layout.pointer)
    return manifest
