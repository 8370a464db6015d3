# Installs profiles.yaml (mode 600) from the pillar key wyng_qubes:profiles, in the
# configuration directory wyng-qubes reads: wyng_qubes:env:WYNG_QUBES_CONFIG_DIR, else
# /etc/wyng-qubes. Passphrases stay out of it: a profile names a root-only file.
# Without wyng_qubes:profiles in pillar it does nothing (an existing file is kept).
{%- set wq = salt['pillar.get']('wyng_qubes', {}) %}
{%- set config_dir = wq.get('env', {}).get('WYNG_QUBES_CONFIG_DIR', '/etc/wyng-qubes') %}
{%- if wq.get('profiles') %}

wyng-qubes-config-dir:
  file.directory:
    - name: {{ config_dir }}
    - mode: '0700'
    - makedirs: True

wyng-qubes-profiles:
  file.serialize:
    - name: {{ config_dir }}/profiles.yaml
    - dataset: {{ {'profiles': wq.profiles} | json }}
    - serializer: yaml
    - mode: '0600'
    - require:
      - file: wyng-qubes-config-dir
{%- endif %}
