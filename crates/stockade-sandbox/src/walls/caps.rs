//! The capabilities a box keeps: Docker's default set, held only inside the
//! box's user namespace (they mean nothing to the host). `CAP_SYS_ADMIN` is
//! never kept. A box user other than root has none at all, as in Docker.

/// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
/// NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
pub(crate) const DOCKER_DEFAULT: [u32; 14] = [
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    3,  // CAP_FOWNER
    4,  // CAP_FSETID
    5,  // CAP_KILL
    6,  // CAP_SETGID
    7,  // CAP_SETUID
    8,  // CAP_SETPCAP
    10, // CAP_NET_BIND_SERVICE
    13, // CAP_NET_RAW
    18, // CAP_SYS_CHROOT
    27, // CAP_MKNOD
    29, // CAP_AUDIT_WRITE
    31, // CAP_SETFCAP
];

/// The kept set as a bit mask.
pub(crate) fn kept_mask() -> u64 {
    DOCKER_DEFAULT.iter().fold(0u64, |m, &c| m | (1u64 << c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_admin_and_friends_are_not_kept() {
        let m = kept_mask();
        // SYS_ADMIN, SYS_PTRACE, SYS_MODULE, NET_ADMIN
        for cap in [21u32, 19, 16, 12] {
            assert_eq!(m & (1u64 << cap), 0, "cap {cap}");
        }
        // Docker's documented default set, as CapEff shows it: 0x00000000a80425fb.
        assert_eq!(m, 0xa804_25fb);
    }
}
