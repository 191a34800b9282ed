//! A small disk of its own for one member's storage: a tmpfs mounted over a
//! directory, which a test can fill to the last byte and free again. Mounting
//! needs root: CI runs as root; anyone else needs password-less sudo, or the
//! test says so and fails.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted over a directory; unmounted (lazily) when dropped.
pub struct SmallDisk {
    at: PathBuf,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `megabytes` over `dir`, keeping what `dir` held.
    pub fn mount_over(dir: &Path, megabytes: u64) -> SmallDisk {
        let saved = dir.with_extension("before-mount");
        fs::rename(dir, &saved).expect("move the directory aside");
        fs::create_dir_all(dir).expect("recreate the mount point");
        let status = privileged("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={megabytes}m"))
            .arg("tmpfs")
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs over {} failed ({status}): the disk-full scenario needs root \
             (or password-less sudo), as CI has",
            dir.display()
        );
        let copied = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", saved.display()))
            .arg(dir)
            .status()
            .expect("run cp");
        assert!(copied.success(), "copying the data onto the tmpfs failed");
        let _ = fs::remove_dir_all(&saved);
        SmallDisk {
            filler: dir.join("filler"),
            at: dir.to_path_buf(),
        }
    }

    /// Writes a file until the disk has no byte left; returns the bytes written.
    pub fn fill(&self) -> u64 {
        let mut f = File::create(&self.filler).expect("create the filler");
        let block = vec![0xa5u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match f.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        // Whatever part of a block still fits.
        while let Ok(n @ 1..) = f.write(&block[..512]) {
            written += n as u64;
        }
        while let Ok(1) = f.write(&block[..1]) {
            written += 1;
        }
        written
    }

    /// Removes the filler: the disk has room again.
    pub fn free(&self) {
        let _ = fs::remove_file(&self.filler);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = privileged("umount").arg("-l").arg(&self.at).status();
    }
}

/// `program`, through `sudo -n` unless this process is root.
fn privileged(program: &str) -> Command {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", program]);
        c
    }
}
