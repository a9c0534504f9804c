"""Music shipped inside Debian packages (MIDI, and audio for the dance engine): download, unpack, find licences.

Debian's archive is a large, licence-checked store of free MIDI music (game soundtracks, lesson
files). ``apt-get download`` fetches a package without installing it and ``dpkg-deb -x`` unpacks
it into a cache folder, so building the corpus never changes the system. Some packages are kept
back to evaluate beat tracking on music no model has seen; they are refused by name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ChoreoError

RESERVED_PACKAGES = frozenset({
    "openttd-openmsx", "mma", "fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "lincity-ng-data",
    "frozen-bubble-data", "hyperrogue-music", "extremetuxracer-data"})
MIDI_SUFFIXES = (".mid", ".midi", ".kar")
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
