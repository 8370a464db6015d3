# wyng-qubes: everything (profiles.yaml, rebuild, nightly backup), as the top file does.
include:
  - wyng-qubes.profiles
  - wyng-qubes.rebuild
  - wyng-qubes.nightly
