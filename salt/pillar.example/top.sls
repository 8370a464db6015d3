base:
  dom0:
    - wyng-qubes
