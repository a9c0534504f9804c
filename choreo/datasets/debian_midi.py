"""Music shipped inside Debian packages (MIDI, and audio for the dance engine): download, unpack, find licences.

Debian's archive is a large, licence-checked store of free MIDI music (game soundtracks, lesson
files). ``apt-get download`` fetches a package without installing it and ``dpkg-deb -x`` unpacks
it into a cache folder, so building the corpus never changes the system. Some packages are kept
back to evaluate beat tracking on music no model has seen; they are refused by name.

Doom engine games keep their music as lumps inside WAD archives (Freedoom's IWADs hold 67
Standard MIDI Files), so a package's MIDI also includes WAD lumps that start with ``MThd``.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChoreoError

RESERVED_PACKAGES = frozenset({
    "openttd-openmsx", "mma", "fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "lincity-ng-data",
    "frozen-bubble-data", "hyperrogue-music", "extremetuxracer-data"})
MIDI_SUFFIXES = (".mid", ".midi", ".kar")
WAD_SUFFIXES = (".wad",)
MIDI_MAGIC = b"MThd"  # first bytes of a Standard MIDI File
MUS_MAGIC = b"MUS\x1a"  # Doom's own score format: no tempo map, so nothing to label beats with
WAD_HEADER = struct.Struct("<4sii")  # ident (IWAD / PWAD), lump count, directory offset
WAD_ENTRY = struct.Struct("<ii8s")  # lump offset, lump size, NUL-padded name
AUDIO_SUFFIXES = (".ogg", ".oga", ".opus", ".mp3", ".wav", ".flac")  # recorded music (soundtracks) the dance engine reads
LICENCE_WORDS = re.compile(r"\b(GPL|LGPL|Creative Commons|CC-BY[-\w.]*|CC0|public domain|BSD|MIT|Artistic License|zlib|"
                           r"Expat|OFL|Art Libre)\b", re.IGNORECASE)


class CorpusError(ChoreoError):
    """The music corpus cannot be built as asked (reserved package, missing tool, failed download)."""


class ReservedPackageError(CorpusError):
    """A package held back for evaluation was named as a corpus source."""


def check_package_allowed(package: str) -> None:
    """Raise ``ReservedPackageError`` for a package reserved for evaluation (exact Debian name)."""
    if package.strip().lower() in RESERVED_PACKAGES:
        raise ReservedPackageError(
            f"Debian package {package!r} is reserved for evaluating beat tracking and must never be used to build, "
            f"train or tune on; remove it from --debian-package (reserved: {', '.join(sorted(RESERVED_PACKAGES))}).")


def _run(command: list[str], cwd: Path) -> None:
    if shutil.which(command[0]) is None:
        raise CorpusError(f"{command[0]} is not installed; --debian-package needs a Debian or Ubuntu system "
                          f"with apt-get and dpkg-deb.")
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise CorpusError(f"{' '.join(command)} failed: {result.stderr.strip()[-400:]}. "
                          f"Check the package name with `apt-cache show` (run `apt-get update` once first).")


def unpack_package(package: str, cache_dir: Path) -> Path:
    """The folder holding the unpacked package ``package`` (downloaded on first use, reused after)."""
    check_package_allowed(package)
    root = cache_dir / package
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        _run(["apt-get", "download", package], cwd=scratch_dir)
        archives = sorted(scratch_dir.glob("*.deb"))
        if not archives:
            raise CorpusError(f"apt-get download {package} produced no .deb file; is {package!r} a binary package?")
        root.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(archives[0]), str(root)], cwd=scratch_dir)
        (root / ".deb-name").write_text(archives[0].name)
    (root / ".complete").touch()
    return root


def package_midi_files(root: Path) -> list[Path]:
    """Every MIDI file in an unpacked package, sorted so the corpus order is reproducible."""
    return sorted(path for path in root.rglob("*") if path.is_file() and path.suffix.lower() in MIDI_SUFFIXES)


@dataclass(frozen=True)
class PackagedMidi:
    """One MIDI file of a package: a ``.mid`` file on disk or a MIDI lump inside a WAD archive.

    ``location`` is the path inside the package (``/usr/share/.../x.wad:D_RUNNIN`` for a lump);
    ``song_key`` is the part of the song id after the package name.
    """

    location: str
    song_key: str
    data: bytes


def wad_midi_lumps(path: Path, skipped: list[str] | None = None) -> list[tuple[str, bytes]]:
    """``(lump name, bytes)`` of every Standard MIDI File lump in the WAD archive ``path``, in directory order.

    MUS lumps (Doom's own score format) are listed in ``skipped`` with the reason; other lumps
    (maps, graphics, sounds) are not music and are passed over silently. A file that is not a
    well-formed WAD (bad ident, header or lump outside the file) raises ``CorpusError``.
    """
    data = Path(path).read_bytes()
    if len(data) < WAD_HEADER.size:
        raise CorpusError(f"WAD file {path} is {len(data)} bytes, shorter than its 12-byte header; "
                          f"the file is truncated: unpack the package again (delete its cache folder).")
    ident, num_lumps, directory_offset = WAD_HEADER.unpack_from(data, 0)
    if ident not in (b"IWAD", b"PWAD"):
        raise CorpusError(f"{path} does not start with IWAD or PWAD (found {ident!r}); it is not a Doom WAD archive.")
    directory_end = directory_offset + num_lumps * WAD_ENTRY.size
    if num_lumps < 0 or directory_offset < WAD_HEADER.size or directory_end > len(data):
        raise CorpusError(f"WAD file {path} claims {num_lumps} lumps with a directory at byte {directory_offset}, "
                          f"outside its {len(data)} bytes; the file is truncated or damaged: unpack it again.")
    lumps = []
    for index in range(num_lumps):
        offset, size, raw_name = WAD_ENTRY.unpack_from(data, directory_offset + index * WAD_ENTRY.size)
        name = raw_name.split(b"\0", 1)[0].decode("ascii", errors="replace")
        if offset < 0 or size < 0 or offset + size > len(data):
            raise CorpusError(f"WAD file {path}: lump {index} ({name!r}) spans bytes {offset}..{offset + size}, "
                              f"outside the file's {len(data)} bytes; the file is truncated or damaged: "
                              f"unpack it again.")
        lump = data[offset:offset + size]
        if lump.startswith(MIDI_MAGIC):
            lumps.append((name, lump))
        elif lump.startswith(MUS_MAGIC) and skipped is not None:
            skipped.append(f"{path}:{name} (MUS lump: Doom's score format has no tempo map to label beats with)")
    return lumps


def package_midi(root: Path, skipped: list[str]) -> list[PackagedMidi]:
    """Every MIDI file (``MIDI_SUFFIXES``) and WAD MIDI lump in an unpacked package, in a reproducible order.

    Song keys of files are their package path without the suffix, ``/`` made ``_`` (unchanged
    from before WAD support, so old songs keep their split); lumps are ``<wad stem>_<lump name>``.
    """
    found = [PackagedMidi("/" + path.relative_to(root).as_posix(),
                          path.relative_to(root).with_suffix("").as_posix().replace("/", "_"), path.read_bytes())
             for path in package_midi_files(root)]
    for wad in sorted(path for path in root.rglob("*") if path.is_file() and path.suffix.lower() in WAD_SUFFIXES):
        relative = "/" + wad.relative_to(root).as_posix()
        lump_skips: list[str] = []
        for name, data in wad_midi_lumps(wad, lump_skips):
            found.append(PackagedMidi(f"{relative}:{name}", f"{wad.stem}_{name}", data))
        skipped += [reason.replace(str(wad), relative, 1) for reason in lump_skips]
    return found


def package_audio_files(root: Path) -> list[Path]:
    """Every audio file (``AUDIO_SUFFIXES``) in an unpacked package, sorted so the dataset order is reproducible."""
    return sorted(path for path in root.rglob("*") if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES)


def package_licence(root: Path, package: str) -> str:
    """A short licence summary from the package's copyright file, naming the file for the full text.

    Machine-readable (DEP-5) files give their ``License:`` names; older free-form files give the
    licence words they mention. Either way the summary points at the file, which a human should read.
    """
    copyright_file = root / "usr" / "share" / "doc" / package / "copyright"
    if not copyright_file.exists():
        return f"unknown (no copyright file in {package})"
    text = copyright_file.read_text(errors="replace")
    where = f"/usr/share/doc/{package}/copyright"
    names = re.findall(r"^License:[ \t]*(\S.*)$", text, flags=re.MULTILINE)
    if names:
        return f"{'; '.join(dict.fromkeys(name.strip() for name in names))} (DEP-5 {where})"
    words = dict.fromkeys(word.upper() if len(word) <= 4 else word.lower() for word in LICENCE_WORDS.findall(text))
    return f"mentions {', '.join(words) or 'no known licence'} (free-form {where}: read it per file)"
