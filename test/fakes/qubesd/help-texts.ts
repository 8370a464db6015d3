// Help texts of qubesd's properties (admin.vm.property.Help / admin.property.Help), as the
// real daemon (qubes-core-admin 4.4.0) returns them: each property's docstring run through
// docutils, including docutils' own warnings where a docstring uses an unknown RST role.
// Recorded from the qubesd lab (shared/lab/qubesd) with one Help call per property and class.
// The texts are recorded byte for byte; some are longer than a line and stay unsplit.
/* eslint-disable max-len -- recorded qubesd help texts, kept verbatim */

/** The text for most classes. */
export const VM_HELP: Readonly<Record<string, string>> = {
  appvm_default_bootmode: 'Default active bootmode for AppVMs based on this template',
  audiovm: 'VM used for Audio',
  auto_cleanup: 'automatically remove this qube upon shutdown',
  autostart: 'Setting this to True means that VM should be autostarted on dom0 boot.',
  backup_timestamp: 'Time of last backup of the qube, in seconds since unix epoch',
  bootmode: 'Active boot mode for this domain',
  debug: 'Turns on debugging features.',
  default_dispvm: 'Default disposable template to be used for spawning disposable qubes for service calls.',
  default_user: "Default user to start applications as. TemplateBasedVMs use its template's value by default.",
  devices_denied: 'List of device interface codes that are denied for this VM.',
  dispid: 'Internal, persistent identifier of particular disposable.',
  dns: 'DNS servers set up for this domain.',
  gateway: 'Gateway for other domains that use this domain as netvm.',
  gateway6: 'Gateway (IPv6) for other domains that use this domain as netvm.',
  guivm: 'VM used for Gui',
  icon: 'freedesktop icon name, suitable for use in :py:meth:`PyQt4.QtGui.QIcon.fromTheme`\n\n<string>:1: (INFO/1) No role entry for "py:meth" in module "docutils.parsers.rst.languages.en".\nTrying "py:meth" as canonical role name.\n\n<string>:1: (ERROR/3) Unknown interpreted text role "py:meth".',
  include_in_backups: 'If this domain is to be included in default backup.',
  installed_by_rpm: "If this domain's image was installed from package tracked by package manager.",
  ip: 'IP address of this domain.',
  ip6: 'IPv6 address of this domain.',
  is_preload: 'Check if qube is a preloaded disposable. :rtype: bool',
  kernel: "Kernel used by this domain. TemplateBasedVMs use its template's value by default.",
  kernelopts: "Kernel command line passed to domain. TemplateBasedVMs use its template's value by default.",
  keyboard_layout: 'Keyboard layout for this VM',
  klass: 'Domain class name',
  label: 'Colourful label assigned to VM. This is where the colour of the padlock is set.',
  mac: 'MAC address of the NIC emulated inside VM',
  management_dispvm: 'Default disposable template to be used for spawning disposable qubes for managing this qube.',
  maxmem:
    "Maximum amount of memory available for this VM (for the purpose of the memory balancer). Set to 0 to disable memory balancing for this qube. TemplateBasedVMs use its template's value by default (unless memory balancing not supported for this qube).",
  memory: "Memory currently available for this VM. TemplateBasedVMs use its template's value by default.",
  name: 'User-specified name of the domain.',
  netvm:
    'VM that provides network connection to this domain. When None, machine is disconnected. When absent, domain uses default NetVM.',
  provides_network: 'If this domain can act as network provider (formerly known as NetVM or ProxyVM)',
  qid: 'Internal, persistent identificator of particular domain. Note this is different from Xen domid.',
  qrexec_timeout:
    'Time in seconds after which qrexec connection attempt is deemed failed. Operating system inside VM should be able to boot in this time.',
  shutdown_timeout:
    'Time in seconds for shutdown of the VM, after which VM may be forcefully powered off. Operating system inside VM should be able to fully shutdown in this time.',
  start_time: 'Tell when machine was started. :rtype: float or None',
  stubdom_mem: 'Memory amount allocated for the stubdom',
  stubdom_uuid: '',
  stubdom_xid: '',
  template: 'Template, on which this AppVM is based.',
  template_for_dispvms: 'Should this VM be allowed to start as Disposable VM',
  updateable: 'True if this machine may be updated on its own.',
  uuid: 'UUID from libvirt.',
  vcpus: "Number of virtual CPUs for a qube. TemplateBasedVMs use its template's value by default.",
  virt_mode:
    'Virtualisation mode: full virtualisation ("HVM"), or paravirtualisation ("PV"), or hybrid ("PVH"). TemplateBasedVMs use its template\'s value by default.',
  visible_gateway: 'Default gateway of this domain as seen by the domain.',
  visible_gateway6: 'Default (IPv6) gateway of this domain as seen by the domain.',
  visible_ip: 'IP address of this domain as seen by the domain.',
  visible_ip6: 'IPv6 address of this domain as seen by the domain.',
  visible_netmask: 'Netmask as seen by the domain.',
  xid: 'Xen ID. Or not Xen, but ID.',
};

/** Where one class answers differently. */
export const VM_HELP_BY_CLASS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  AdminVM: {
    maxmem: 'Maximum amount of memory available for this VM',
    name: '',
    qid: '',
    uuid: '',
  },
  AppVM: {
    icon: '',
  },
  DispVM: {
    template: 'AppVM, on which this disposable is based.',
  },
  TemplateVM: {
    netvm: 'VM that provides network connection to this domain. When None, machine is disconnected.',
  },
};

export const GLOBAL_HELP: Readonly<Record<string, string>> = {
  check_updates_vm: 'Check for updates inside qubes',
  clockvm: 'Which VM to use as NTP proxy for updating AdminVM',
  default_audiovm: 'Default AudioVM for VMs.',
  default_dispvm:
    'Default disposable template to be used for spawning disposable qubes for service calls in this system.',
  default_guivm: 'Default GuiVM for VMs.',
  default_kernel: 'Which kernel to use when not overriden in VM',
  default_netvm:
    'Default NetVM for AppVMs. Initial state is None, which means that AppVMs are not connected to the Internet.',
  default_pool: 'Default storage pool',
  default_pool_kernel: 'Default storage pool for kernel volumes',
  default_pool_private: 'Default storage pool for private volumes',
  default_pool_root: 'Default storage pool for root volumes',
  default_pool_volatile: 'Default storage pool for volatile volumes',
  default_qrexec_timeout: 'Default time in seconds after which qrexec connection attempt is deemed failed',
  default_shutdown_timeout: 'Default time in seconds for VM shutdown to complete',
  default_template: 'Default template for new AppVMs',
  management_dispvm:
    'Default disposable template to be used for spawning disposable qubes for managing a qube in this system.',
  maxmem: 'Maximum system memory.',
  no_cpus: 'Quantity of CPUs',
  stats_interval: 'Interval in seconds for VM stats reporting (memory, CPU usage)',
  updatevm: 'Which VM to use as yum proxy for updating AdminVM and TemplateVMs',
};
