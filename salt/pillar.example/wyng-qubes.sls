# Example pillar for the wyng-qubes formulas (salt/formulas) and modules (salt/_modules).
wyng_qubes:
  # The bundle (default /usr/bin/wyng-qubes) and, optionally, node (default: on PATH).
  bin: /usr/bin/wyng-qubes
  # System locations passed to wyng-qubes (WYNG_QUBES_* variables only); all optional.
  env:
    WYNG_QUBES_CONFIG_DIR: /etc/wyng-qubes

  # Written to WYNG_QUBES_CONFIG_DIR/profiles.yaml by wyng-qubes.profiles.
  profiles:
    laptop:
      dest: file:/mnt/backup/laptop
      passphrase_file: /etc/wyng-qubes/laptop.pass
      qubes: [fedora-41, debian-12, sys-net, sys-firewall, work, personal, vault]
      options: {dedup: true, autoprune: "on", check_after_send: true}

  # wyng-qubes.rebuild: restore what is missing, templates first.
  rebuild:
    profile: laptop
    templates: [fedora-41, debian-12]
    net_qubes: [sys-net, sys-firewall]
    qubes: [work, personal, vault]

  # wyng-qubes.nightly: back up when the newest session is older than max_age.
  nightly:
    profile: laptop
    max_age: 20h
