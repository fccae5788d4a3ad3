"""Copy the npm files socketwire serves into the package, so that a wheel carries them:
the browser client, and the admin UI with its icon font.

Usage: ``python scripts/vendor_assets.py NODE_MODULES DEST`` (``make assets`` runs it with
``client-dist/node_modules`` and ``src/socketwire/_assets``).

For each package below it copies the listed files, writes a ``package.json`` with the
package's name, version and license, and copies the license texts of the package and of the
npm packages bundled into its files. ``DEST/ASSETS.json`` records every file with its size
and SHA-256, and the version of each package, so a wheel says exactly what it ships.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Asset:
    """An npm package whose files are served, and the packages bundled into them.

    ``trees`` are directories copied whole, but for their source maps (the admin UI's
    build has hashed file names, and its maps weigh four times the UI); ``notice`` is
    appended to the license file.
    """

    name: str
    files: tuple[str, ...] = ()
    bundled: tuple[str, ...] = ()
    trees: tuple[str, ...] = ()
    notice: str = ""


ASSETS = (
    Asset(
        "socket.io-client",
        files=tuple(
            f"dist/{stem}{suffix}"
            for stem in ("socket.io", "socket.io.min", "socket.io.esm.min", "socket.io.msgpack.min")
            for suffix in (".js", ".js.map")
        ),
        # what its rollup build puts into the browser bundles (the msgpack bundle also holds
        # notepack.io, a build-time dependency that is not installed: its notice is below)
        bundled=(
            "engine.io-client",
            "engine.io-parser",
            "socket.io-parser",
            "@socket.io/component-emitter",
        ),
        notice="""\
notepack.io (bundled into socket.io.msgpack.min.js by socket.io-client's build)
Copyright (c) 2015 Pierre Ertaud (https://github.com/darrachequesne/notepack)
Released under the MIT License.
""",
    ),
    # The admin UI (Server.instrument(serve_ui=True)): its static build, served at /admin/.
    Asset(
        "@socket.io/admin-ui",
        trees=("ui/dist",),
        notice="""\
The UI's build (ui/dist/js/chunk-vendors.*.js) bundles the open-source packages it was
built with (Vue 2, Vuetify 2, vue-router, vuex, vue-i18n, Chart.js, socket.io-client and
their dependencies), each under its own license: see the sources of @socket.io/admin-ui
(https://github.com/socketio/socket.io-admin-ui, ui/package.json).
""",
    ),
    # The icon font the admin UI links from a CDN: served beside it, so that the UI works
    # on networks that reach no CDN.
    Asset(
        "@mdi/font",
        files=(
            "css/materialdesignicons.min.css",
            "fonts/materialdesignicons-webfont.woff2",
            "fonts/materialdesignicons-webfont.woff",
        ),
    ),
)


def _license_text(package_dir: Path) -> str:
    for name in ("LICENSE", "LICENSE.md", "LICENSE.txt", "license"):
        path = package_dir / name
        if path.is_file():
            return path.read_text("utf-8")
    raise SystemExit(f"vendor_assets: no license file in {package_dir}")


def vendor(node_modules: Path, dest: Path) -> dict[str, object]:
    """Copy every asset from ``node_modules`` into ``dest``; returns the manifest."""
    manifest: dict[str, object] = {}
    for asset in ASSETS:
        source = node_modules / asset.name
        meta = json.loads((source / "package.json").read_text("utf-8"))
        target = dest / asset.name
        if target.exists():
            shutil.rmtree(target)
        files: dict[str, dict[str, object]] = {}
        listed = list(asset.files)
        for tree in asset.trees:
            listed.extend(
                path.relative_to(source).as_posix()
                for path in sorted((source / tree).rglob("*"))
                if path.is_file() and path.suffix != ".map"
            )
        for relative in listed:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            data = (source / relative).read_bytes()
            (target / relative).write_bytes(data)
            files[relative] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        package = {key: meta[key] for key in ("name", "version", "license") if key in meta}
        (target / "package.json").write_text(json.dumps(package, indent=2) + "\n", "utf-8")
        licenses = [f"{asset.name} {meta['version']}\n\n{_license_text(source)}"]
        for name in asset.bundled:
            bundled_meta = json.loads((node_modules / name / "package.json").read_text("utf-8"))
            text = _license_text(node_modules / name)
            licenses.append(f"{name} {bundled_meta['version']}\n\n{text}")
        if asset.notice:
            licenses.append(asset.notice)
        separator = "\n" + "-" * 78 + "\n\n"
        (target / "LICENSE").write_text(separator.join(licenses), "utf-8")
        manifest[asset.name] = {"version": meta["version"], "files": files}
    (dest / "ASSETS.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest


def main(argv: list[str]) -> int:
    """Run the command line."""
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    node_modules, dest = Path(argv[0]), Path(argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    manifest = vendor(node_modules, dest)
    for name, entry in manifest.items():
        assert isinstance(entry, dict)
        print(f"vendor_assets: {name} {entry['version']} -> {dest / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
