"""
A Wyng archive for the functional tests: made with the bundle's `create` and filled by the
fake Wyng's `send` (test/fakes/wyng) with volumes and the `wyng-qubes-metadata` volume, the
way a wyng-qubes backup lays them out (docs/design.md "Wyng contract").
"""

import io
import json
import os
import subprocess
import tarfile

from helpers import REPO, clean_environ

FAKE_WYNG = REPO / "test" / "fakes" / "wyng"
# What the tests loosen in the fake Wyng (test/fakes/README.md): a normal user may send, and the
# pools (plain temp directories) count as Btrfs subvolumes.
FAKE_WYNG_LOOSE = {"WYNG_FAKE_ALLOW_NONROOT": "1", "WYNG_FAKE_ANY_POOL": "1"}
METADATA_VOLUME = "wyng-qubes-metadata"

_DOMAIN = (
    '<domain id="domain-{qid}" class="{klass}"><properties>'
    '<property name="name">{name}</property><property name="qid">{qid}</property>'
    '<property name="label">label-1</property></properties><features/><tags/></domain>'
)


def qubes_xml(qubes):
    domains = "".join(
        _DOMAIN.format(qid=i + 1, klass=klass, name=name) for i, (name, klass) in enumerate(sorted(qubes.items()))
    )
    return (
        '<qubes><labels><label id="label-1" color="0xcc0000">red</label></labels><pools/><properties/><domains>'
        '<domain id="domain-0" class="AdminVM"><properties><property name="label">label-1</property></properties>'
        f"<features/><tags/></domain>{domains}</domains></qubes>"
    )


def volume_paths(name, klass):
    if klass in ("TemplateVM", "StandaloneVM"):
        return [f"vm-templates/{name}/private.img", f"vm-templates/{name}/root.img"]
    return [f"appvms/{name}/private.img"]


class FakeArchive:
    def __init__(self, root, bundle):
        self.root = root
        self.bundle = bundle
        self.dest = f"file:{root / 'archive'}"
        self.pool = root / "pool"
        self.env = {
            **clean_environ(),
            "TZ": "UTC",
            "WYNG_FAKE_LOCK": str(root / "wyng.lock"),
            "WYNG_FAKE_HOME": str(root / "wyng-home"),
            "WYNG_QUBES_STATE_DIR": str(root / "cli-state"),
            **FAKE_WYNG_LOOSE,
        }

    @property
    def process_env(self):
        """Variables the fake Wyng reads, for the salt-call process."""
        return {k: self.env[k] for k in ("TZ", "WYNG_FAKE_LOCK", "WYNG_FAKE_HOME", *FAKE_WYNG_LOOSE)}

    def create(self):
        proc = subprocess.run(
            [
                "node",
                str(self.bundle),
                "--json",
                f"--wyng={FAKE_WYNG}",
                f"--dest={self.dest}",
                "-w",
                "encrypt=off",
                "create",
            ],
            env=self.env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        return self

    def send(self, qubes, now=None):
        """One session holding each qube's volumes and the metadata; `now` = epoch seconds."""
        paths = []
        for name, klass in qubes.items():
            for rel in volume_paths(name, klass):
                path = self.pool / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(os.urandom(4096) + bytes(60 * 1024) + name.encode())
                paths.append([rel, ""])
        local_from = self.root / "vols.json"
        local_from.write_text(json.dumps({str(self.pool): paths}))
        tar_path = self.root / "meta.tgz"
        data = qubes_xml(qubes).encode()
        with tarfile.open(tar_path, "w:gz") as tar:
            info = tarfile.TarInfo("qubes.xml")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        env = dict(self.env)
        if now is not None:
            env["WYNG_FAKE_NOW"] = str(int(now))
        argv = [
            str(FAKE_WYNG),
            f"--dest={self.dest}",
            "-u",
            f"--local-from={local_from}",
            "--tag=qubes",
            "--send-unchanged",
            f"--import-other-from={METADATA_VOLUME}:|:{tar_path}",
            "send",
        ]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr

    def list_sessions(self):
        """Session ids as the bundle's `list --json` reports them (oldest first)."""
        proc = subprocess.run(
            ["node", str(self.bundle), "--json", f"--wyng={FAKE_WYNG}", f"--dest={self.dest}", "list"],
            env=self.env,
            capture_output=True,
            text=True,
        )
        doc = json.loads(proc.stdout)
        return [s["id"] for s in (doc["result"] or {}).get("sessions", [])]
