# Rebuilds a workstation from its newest backup: every qube named in wyng_qubes:rebuild
# that does not exist is restored (data and settings) with wyng_qubes.restored.
# Order: templates first, then net qubes (they need their templates), then the other qubes
# (they need both), each tier `require`-ing every state of the tiers before it. Qubes that
# exist are left alone unless wyng_qubes:rebuild:only_if_missing is False.
#
#   wyng_qubes:
#     rebuild:
#       profile: laptop              # or dest: file:/mnt/backup/laptop
#       session: 20250301-020304     # optional; default the newest session of each qube
#       templates: [fedora-41, debian-12]
#       net_qubes: [sys-net, sys-firewall]
#       qubes: [work, personal, vault]
#       options: {pool: vm-pool}       # optional; more wyng_qubes.restored options
{%- set rb = salt['pillar.get']('wyng_qubes:rebuild', {}) %}
{%- set with_profiles = salt['pillar.get']('wyng_qubes:profiles', {}) | length > 0 %}
{%- set tiers = [rb.get('templates', []), rb.get('net_qubes', []), rb.get('qubes', [])] %}
{%- set done = [] %}
{%- if with_profiles %}

include:
  - wyng-qubes.profiles
{%- endif %}

{%- for tier in tiers %}
{%- set before = done | list %}
{%- for qube in tier %}

wyng-qubes-restored-{{ qube }}:
  wyng_qubes.restored:
    - name: {{ qube }}
{%- if rb.get('dest') %}
    - dest: {{ rb.dest }}
{%- endif %}
{%- if rb.get('profile') %}
    - profile: {{ rb.profile }}
{%- endif %}
{%- if rb.get('session') %}
    - session: '{{ rb.session }}'
{%- endif %}
    - only_if_missing: {{ rb.get('only_if_missing', True) }}
{%- for key, value in rb.get('options', {}) | dictsort %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
{%- if with_profiles or before %}
    - require:
{%- if with_profiles %}
      - file: wyng-qubes-profiles
{%- endif %}
{%- for other in before %}
      - wyng_qubes: wyng-qubes-restored-{{ other }}
{%- endfor %}
{%- endif %}
{%- endfor %}
{%- do done.extend(tier) %}
{%- endfor %}
