#!/usr/bin/python3
"""Record what wyng-qubes asks a real qubesd 4.2 (qubes-core-admin release4.2), exchange by exchange.

  record-r42.py --socket SOCK --out DIR --version V --commit SHA

Run against a fresh qubesd lab populated by the lab's scenario (template fedora-41, sys-net with
PCI 00_03.0 attached persistently, sys-firewall, fedora-41-dvm, work in vm-pool, personal, vault,
untrusted-standalone, disp-test, work-clone). Writes DIR/transcripts/<method>.json in the layout
of the 4.4 recordings ({method, exchanges: [{sequence, name, description, request, response}]}),
in the order sent: later exchanges see the state earlier ones left. A response of "" means
qubesd closed the connection without a byte.
"""
import argparse
import datetime
import json
import os
import socket


def request(method, arg="", dest="dom0", payload=b"", src="dom0", dest_type="name"):
    if isinstance(payload, str):
        payload = payload.encode()
    return ("%s+%s %s %s %s\0" % (method, arg, src, dest_type, dest)).encode("ascii") + payload


class Recorder:
    def __init__(self, sock):
        self.sock = sock
        self.seq = 0
        self.files = {}

    def call(self, name, method, arg="", dest="dom0", payload=b"", desc="", file_key=None):
        req = request(method, arg, dest, payload)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        s.sendall(req)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        chunks = []
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except ConnectionResetError:
            pass
        s.close()
        resp = b"".join(chunks)
        self.seq += 1
        key = file_key or method
        self.files.setdefault(key, []).append({
            "sequence": self.seq,
            "name": name,
            "description": desc,
            "request": req.decode("utf-8"),
            "response": resp.decode("utf-8"),
        })
        code = resp[:1].decode() or "-"
        print("%4d %-40s %-28s %s %s" % (self.seq, key, name, code, resp[2:60].split(b"\0")[0].decode()))
        return resp


def run(r):
    C = r.call
    # running qubes, as on a real system (and as the 4.4 recording)
    for q in ("sys-net", "sys-firewall", "personal"):
        C("halted-" + q, "admin.vm.Start", dest=q)

    # --- what qubesd 4.2 does not answer: the connection is closed, no bytes ----------------
    P = "protocol"
    C("unknown-method", "admin.vm.NoSuchMethod", file_key=P, desc="unknown method name")
    C("unknown-method-4.3-device-Assigned", "admin.vm.device.pci.Assigned", dest="sys-net", file_key=P,
      desc="the 4.3+ name admin.vm.device.<class>.Assigned does not exist in 4.2")
    C("unknown-method-4.3-device-Assign", "admin.vm.device.pci.Assign", arg="dom0+00_05.0", dest="vault",
      payload="device_id='*' port_id='00_05.0' devclass='pci' backend_domain='dom0' mode='required' "
              "frontend_domain='vault'", file_key=P)
    C("unknown-method-4.3-device-Unassign", "admin.vm.device.pci.Unassign", arg="dom0+00_03.0",
      dest="sys-net", file_key=P)
    C("unknown-method-denied-List", "admin.vm.device.denied.List", dest="work", file_key=P)
    C("unknown-device-class", "admin.vm.device.usb.List", dest="work", file_key=P,
      desc="device class without a registered extension")
    C("unexpected-argument", "admin.vm.List", arg="x", file_key=P)
    C("unexpected-payload", "admin.vm.List", payload="x", file_key=P)
    C("missing-argument", "admin.vm.property.Get", dest="work", file_key=P)
    C("global-method-on-qube", "admin.property.Get", arg="default_pool", dest="work", file_key=P)
    C("qube-method-on-dom0-firewall", "admin.vm.firewall.Get", dest="dom0", file_key=P)
    C("permission-denied-pool-Info", "admin.pool.Info", arg="no-such-pool", file_key=P,
      desc="PermissionDenied (argument not in pools): 4.2 closes the connection")
    C("permission-denied-volume-Info", "admin.vm.volume.Info", arg="no-such-volume", dest="work", file_key=P)
    C("dest-missing-vm", "admin.vm.property.Get", arg="netvm", dest="no-such-qube", file_key=P)
    C("feature-value-not-ascii", "admin.vm.feature.Set", arg="x", dest="work", payload="caf\u00e9", file_key=P)

    # --- reads the product makes ----------------------------------------------------------------
    C("ok", "admin.vmclass.List")
    C("all", "admin.vm.List")
    C("one", "admin.vm.List", dest="work")
    C("ok", "admin.label.List")
    C("ok", "admin.label.Get", arg="red")
    C("ok", "admin.label.Index", arg="blue")
    C("ok", "admin.pool.List")
    for p in ("varlibqubes", "vm-pool", "linux-kernel"):
        C(p, "admin.pool.Info", arg=p)
    C("ok", "admin.deviceclass.List")
    C("ok", "admin.property.List")
    C("ok", "admin.property.GetAll")
    for p in ("default_pool", "default_netvm", "default_template", "default_dispvm", "clockvm", "updatevm",
              "default_kernel", "no_such_prop"):
        C(p, "admin.property.Get", arg=p)
    C("default_netvm", "admin.property.GetDefault", arg="default_netvm")
    for q in ("dom0", "work", "fedora-41", "fedora-41-dvm", "sys-net", "untrusted-standalone", "disp-test"):
        C(q, "admin.vm.property.List", dest=q,
          desc="dom0's list tells the device API apart: devices_denied only on 4.3+" if q == "dom0" else "")
    for q in ("dom0", "work", "fedora-41", "sys-net", "personal", "vault", "disp-test"):
        C(q, "admin.vm.property.GetAll", dest=q)
    for q, p in (("work", "netvm"), ("work", "memory"), ("work", "devices_denied"), ("dom0", "devices_denied"),
                 ("work", "bootmode"), ("work", "no_such_prop"), ("personal", "xid")):
        C(q + "-" + p, "admin.vm.property.Get", arg=p, dest=q)
    C("work-kernel", "admin.vm.property.GetDefault", arg="kernel", dest="work")
    for q in ("work", "fedora-41", "fedora-41-dvm"):
        C(q, "admin.vm.feature.List", dest=q)
    C("work-service.crond", "admin.vm.feature.Get", arg="service.crond", dest="work")
    C("work-missing", "admin.vm.feature.Get", arg="nope", dest="work")
    C("work-os", "admin.vm.feature.CheckWithTemplate", arg="os", dest="work")
    for q in ("work", "sys-net"):
        C(q, "admin.vm.tag.List", dest=q)
    C("work-present", "admin.vm.tag.Get", arg="project-x", dest="work")
    C("work-absent", "admin.vm.tag.Get", arg="nope", dest="work")
    for q in ("work", "sys-firewall"):
        C(q, "admin.vm.firewall.Get", dest=q)
    for q in ("work", "fedora-41", "disp-test"):
        C(q, "admin.vm.volume.List", dest=q)
    C("work-private", "admin.vm.volume.Info", arg="private", dest="work")
    C("fedora-41-root", "admin.vm.volume.Info", arg="root", dest="fedora-41")
    for q in ("work", "personal"):
        C(q, "admin.vm.CurrentState", dest=q)

    # --- devices, 4.2 API: List / Attach (persistent=True) / Detach / Available ---------------
    D = "admin.vm.device.pci"
    C("sys-net", D + ".List", dest="sys-net")
    C("none", D + ".List", dest="work")
    C("sys-net", "admin.vm.device.block.List", dest="sys-net")
    C("halted-not-hvm", D + ".Attach", arg="dom0+00_05.0", dest="vault", payload="persistent=True",
      desc="vault is pvh: PCI needs hvm")
    C("virt_mode-hvm", "admin.vm.property.Set", arg="virt_mode", dest="vault", payload="hvm")
    C("persistent-with-option", D + ".Attach", arg="dom0+00_05.0", dest="vault",
      payload="no-strict-reset=True persistent=True")
    C("after-attach", D + ".List", dest="vault")
    C("again", D + ".Attach", arg="dom0+00_05.0", dest="vault", payload="persistent=True")
    C("halted-not-persistent", D + ".Attach", arg="dom0+00_04.0", dest="vault", payload="persistent=False")
    C("missing-backend", D + ".Attach", arg="no-such-qube+00_04.0", dest="vault", payload="persistent=True")
    C("invalid-port", D + ".Attach", arg="dom0+99_99.9", dest="vault", payload="persistent=True")
    C("persistent-of-running", D + ".Detach", arg="dom0+00_03.0", dest="sys-net",
      desc="a persistent attachment of a running qube cannot be removed")
    C("persistent", D + ".Detach", arg="dom0+00_05.0", dest="vault")
    C("not-attached", D + ".Detach", arg="dom0+00_05.0", dest="vault")
    C("after-detach", D + ".List", dest="vault")
    B = "admin.vm.device.block"
    C("persistent-port-of-qube", B + ".Attach", arg="sys-firewall+sda", dest="vault", payload="persistent=True",
      desc="block device by port of a running backend exposing nothing")
    C("after", B + ".List", dest="vault")
    C("persistent", B + ".Detach", arg="sys-firewall+sda", dest="vault")

    # --- writes: properties, features, tags, firewall ---------------------------------------------
    S = "admin.vm.property.Set"
    C("memory", S, arg="memory", dest="work", payload="900")
    C("netvm-none", S, arg="netvm", dest="work", payload="")
    C("netvm", S, arg="netvm", dest="work", payload="sys-firewall")
    C("label", S, arg="label", dest="work", payload="green")
    C("kernelopts", S, arg="kernelopts", dest="work", payload="nopat")
    C("bad-int", S, arg="vcpus", dest="work", payload="many")
    C("no-such-prop", S, arg="bootmode", dest="work", payload="default")
    C("template-of-halted", S, arg="template", dest="work", payload="fedora-41")
    C("memory", "admin.vm.property.Reset", arg="memory", dest="work")
    C("kernelopts", "admin.vm.property.Reset", arg="kernelopts", dest="work")
    C("default_dispvm", "admin.property.Set", arg="default_dispvm", payload="fedora-41-dvm")
    C("updatevm", "admin.property.Reset", arg="updatevm")
    C("updatevm-back", "admin.property.Set", arg="updatevm", payload="sys-firewall")
    C("new", "admin.vm.feature.Set", arg="wq-test", dest="work", payload="1")
    C("new", "admin.vm.feature.Remove", arg="wq-test", dest="work")
    C("absent", "admin.vm.feature.Remove", arg="wq-test", dest="work")
    C("new", "admin.vm.tag.Set", arg="wq-tag", dest="work")
    C("new", "admin.vm.tag.Remove", arg="wq-tag", dest="work")
    C("absent", "admin.vm.tag.Remove", arg="wq-tag", dest="work")
    C("rules", "admin.vm.firewall.Set", dest="work",
      payload="action=accept proto=tcp dstports=443-443\naction=drop\n")
    C("after-set", "admin.vm.firewall.Get", dest="work")
    C("back", "admin.vm.firewall.Set", dest="work", payload="action=accept\n")

    # --- Create of each class, Remove -------------------------------------------------------------
    CR = "admin.vm.Create"
    C("AppVM", CR + ".AppVM", arg="fedora-41", payload="name=wq-app label=red", file_key=CR)
    C("AppVM-default-template", CR + ".AppVM", payload="name=wq-app2 label=red", file_key=CR)
    C("TemplateVM", CR + ".TemplateVM", payload="name=wq-tpl label=black", file_key=CR)
    C("StandaloneVM", CR + ".StandaloneVM", payload="name=wq-sa label=orange", file_key=CR)
    C("DispVM", CR + ".DispVM", arg="fedora-41-dvm", payload="name=wq-disp label=red", file_key=CR)
    C("exists", CR + ".AppVM", arg="fedora-41", payload="name=wq-app label=red", file_key=CR)
    C("bad-label", CR + ".AppVM", arg="fedora-41", payload="name=wq-x label=pink", file_key=CR)
    C("TemplateVM-with-template", CR + ".TemplateVM", arg="fedora-41", payload="name=wq-y label=red",
      file_key=CR)
    C("AppVM", "admin.vm.CreateInPool.AppVM", arg="fedora-41", payload="name=wq-pool label=blue pool=vm-pool")
    C("AppVM-volume-pools", "admin.vm.CreateInPool.AppVM", arg="fedora-41",
      payload="name=wq-pool2 label=blue pool:private=vm-pool")
    C("wq-app", "admin.vm.property.GetAll", dest="wq-app")
    C("wq-pool-private", "admin.vm.volume.Info", arg="private", dest="wq-pool")
    for q in ("wq-disp", "wq-app", "wq-app2", "wq-tpl", "wq-sa", "wq-pool", "wq-pool2"):
        C(q, "admin.vm.Remove", dest=q)
    C("missing", "admin.vm.Remove", dest="wq-app")

    # --- power -------------------------------------------------------------------------------------
    C("running", "admin.vm.Shutdown", dest="personal")
    C("halted", "admin.vm.Shutdown", dest="personal")
    C("halted", "admin.vm.Kill", dest="personal")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--commit", required=True)
    a = ap.parse_args()
    r = Recorder(a.socket)
    run(r)
    meta = {
        "recorded_from": "qubes-core-admin %s qubesd (release4.2, commit %s), run by the qubesd lab harness"
                         % (a.version, a.commit),
        "qubes_core_admin_version": a.version,
        "qubes_core_admin_commit": a.commit,
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "encoding": "request/response are the exact bytes as UTF-8 JSON strings; NUL bytes appear as \\u0000; "
                    "response '' = the connection was closed without a byte",
    }
    out = os.path.join(a.out, "transcripts")
    os.makedirs(out, exist_ok=True)
    for key, ex in r.files.items():
        with open(os.path.join(out, key + ".json"), "w", encoding="utf-8") as f:
            json.dump(dict(meta, method=key, exchanges=ex), f, indent=1, ensure_ascii=True)
            f.write("\n")


if __name__ == "__main__":
    main()
