"""
The fake qubesd (test/fakes/qubesd/main.ts) as a separate process for the functional tests,
seeded with the recorded qubes.xml (test/data/qubesd/qubes.xml), plus raw Admin API
calls (docs/design.md "Admin API contract") to look at and change the "live" system.
"""

import shutil
import signal
import socket
import subprocess

from helpers import REPO

SEED_XML = REPO / "test" / "data" / "qubesd" / "qubes.xml"
MAIN = REPO / "test" / "fakes" / "qubesd" / "main.ts"


class AdminApiError(Exception):
    pass


class FakeQubesd:
    def __init__(self, root, seed=SEED_XML, extra_args=()):
        if not seed.is_file():
            raise AssertionError(f"{seed} is missing (see test/data/README.md)")
        self.pools = root / "pools"
        self.qubes_dir = self.pools / "var" / "lib" / "qubes"
        self.proc = subprocess.Popen(
            ["node", "--import", "tsx", str(MAIN), "--qubes-xml", str(seed), "--pools-dir", str(self.pools)]
            + list(extra_args),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("SOCKET "):
            self.stop()
            raise AssertionError(f"fake qubesd did not start: {line!r} {self.proc.stderr.read()}")
        self.socket = line.split(" ", 1)[1].strip()
        # dom0 has qubesd's own qubes.xml in the Qubes dir: backup archives it.
        if not (self.qubes_dir / "qubes.xml").exists():
            shutil.copyfile(seed, self.qubes_dir / "qubes.xml")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def call(self, method, dest="dom0", arg="", payload=b""):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(self.socket)
            s.sendall(f"{method}+{arg} dom0 name {dest}\0".encode() + payload)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        reply = b"".join(chunks)
        if reply.startswith(b"0\0"):
            return reply[2:].decode()
        parts = reply.split(b"\0")
        raise AdminApiError(f"{method} {dest}: {b' '.join(parts[1:]).decode(errors='replace').strip()}")

    def qubes(self):
        """Live qube name -> class."""
        out = {}
        for line in self.call("admin.vm.List").splitlines():
            name, rest = line.split(" ", 1)
            out[name] = rest.split("class=", 1)[1].split(" ", 1)[0]
        return out

    def remove(self, name):
        self.call("admin.vm.Remove", name)

    def get(self, qube, prop):
        """A property's value (`default=False type=int 800` -> `800`)."""
        return self.call("admin.vm.property.Get", qube, prop).split(" ", 2)[2]

    def set(self, qube, prop, value):
        self.call("admin.vm.property.Set", qube, prop, str(value).encode())
