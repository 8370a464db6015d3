# Top file for dom0 (Qubes' minion id is "dom0"). Copy the wyng-qubes/ folder and this
# file's entries into your own top (or enable with qubesctl, see salt/README.md).
#   wyng-qubes.profiles  installs /etc/wyng-qubes/profiles.yaml from pillar
#   wyng-qubes.rebuild   restores every qube listed in pillar that does not exist
#   wyng-qubes.nightly   backs the profile up when its newest session is too old
base:
  dom0:
    - wyng-qubes.profiles
    - wyng-qubes.rebuild
    - wyng-qubes.nightly
