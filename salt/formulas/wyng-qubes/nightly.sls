# Keeps a backup of the profile wyng_qubes:nightly:profile no older than max_age (default
# 20h): run it from a daily (or hourly) timer with `qubesctl state.sls wyng-qubes.nightly`;
# it backs up only when the newest session of the profile's qubes is older than that.
#
#   wyng_qubes:
#     nightly:
#       profile: laptop
#       max_age: 20h
{%- set nightly = salt['pillar.get']('wyng_qubes:nightly', {}) %}
{%- set with_profiles = salt['pillar.get']('wyng_qubes:profiles', {}) | length > 0 %}
{%- if with_profiles %}

include:
  - wyng-qubes.profiles
{%- endif %}
{%- if nightly.get('profile') %}

wyng-qubes-backed-up-{{ nightly.profile }}:
  wyng_qubes.backed_up:
    - name: {{ nightly.profile }}
    - max_age: {{ nightly.get('max_age', '20h') }}
{%- if with_profiles %}
    - require:
      - file: wyng-qubes-profiles
{%- endif %}
{%- endif %}
