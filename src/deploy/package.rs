//! The ticket Lambda as Lambda takes it: the `bootstrap` binary of
//! `lambdas/tickets`, built in release mode, zipped deterministically (one
//! entry, fixed timestamp and mode) so the same code always gives the same
//! `CodeSha256` and an unchanged function is never re-uploaded.
//!
//! For `aws` the binary must run on `provided.al2023` (glibc 2.34): it is
//! cross-built with `cargo zigbuild` or `cargo lambda` when either is
//! installed; otherwise the host build's required glibc symbol versions are
//! checked and a binary that needs a newer glibc is refused, naming the fix.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use sha2::{Digest, Sha256};

/// The newest glibc `provided.al2023` has.
pub const AL2023_GLIBC: (u32, u32) = (2, 34);

/// A zipped function, ready for `CreateFunction`/`UpdateFunctionCode`.
#[derive(Debug, Clone)]
pub struct LambdaPackage {
    pub zip: Vec<u8>,
    /// Base64 SHA-256 of the zip, as Lambda reports `CodeSha256`.
    pub code_sha256: String,
    /// Where the binary came from.
    pub binary: PathBuf,
}

/// Where the workspace this binary was built from lives (for building the
/// Lambda and finding `web/`), if it is still there.
pub fn workspace_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.join("lambdas/tickets/Cargo.toml")
        .is_file()
        .then_some(dir)
}

/// Zips `binary` as `bootstrap`, deterministically.
pub fn zip_bootstrap(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o755);
        zip.start_file("bootstrap", options)?;
        zip.write_all(binary)?;
        zip.finish()?;
    }
    Ok(out.into_inner())
}

/// The package of an existing binary.
pub fn package_binary(
    binary: &Path,
    architecture: &str,
    for_aws: bool,
) -> anyhow::Result<LambdaPackage> {
    let bytes = std::fs::read(binary)
        .map_err(|e| anyhow::anyhow!("cannot read the Lambda binary {}: {e}", binary.display()))?;
    check_architecture(&bytes, architecture, binary)?;
    if for_aws
        && let Some((major, minor)) = required_glibc(&bytes)
        && (major, minor) > AL2023_GLIBC
    {
        anyhow::bail!(
            "{} needs glibc {major}.{minor}, but Lambda's provided.al2023 has {}.{}: install cargo-zigbuild (`cargo install cargo-zigbuild`, plus zig) or cargo-lambda and run `up` again; it then builds for glibc {}.{}",
            binary.display(),
            AL2023_GLIBC.0,
            AL2023_GLIBC.1,
            AL2023_GLIBC.0,
            AL2023_GLIBC.1
        );
    }
    let zip = zip_bootstrap(&bytes)?;
    let code_sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    Ok(LambdaPackage {
        zip,
        code_sha256,
        binary: binary.to_owned(),
    })
}

/// Builds the Lambda in release mode and packages it.
pub fn build(architecture: &str, for_aws: bool) -> anyhow::Result<LambdaPackage> {
    let Some(dir) = workspace_dir() else {
        anyhow::bail!(
            "the wildrydes sources are not at {} any more, so the Lambda cannot be built; pass a built binary with --lambda-binary",
            env!("CARGO_MANIFEST_DIR")
        );
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has = |sub: &str| {
        Command::new(&cargo)
            .args([sub, "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let triple = match architecture {
        "arm64" => "aarch64-unknown-linux-gnu",
        _ => "x86_64-unknown-linux-gnu",
    };
    let binary = if for_aws && has("zigbuild") {
        let target = format!("{triple}.{}.{}", AL2023_GLIBC.0, AL2023_GLIBC.1);
        run_build(&cargo, &dir, &["zigbuild", "--target", &target])?
    } else if for_aws && has("lambda") {
        let mut args = vec!["lambda", "build"];
        if architecture == "arm64" {
            args.push("--arm64");
        }
        run_build(&cargo, &dir, &args)?
    } else {
        run_build(&cargo, &dir, &["build"])?
    };
    package_binary(&binary, architecture, for_aws)
}

/// Runs a cargo build of `bootstrap` and returns the executable it made.
fn run_build(cargo: &str, dir: &Path, args: &[&str]) -> anyhow::Result<PathBuf> {
    let output = Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .args([
            "--release",
            "--package",
            "wildrydes-tickets",
            "--bin",
            "bootstrap",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {cargo}: {e}"))?;
    if !output.status.success() {
        anyhow::bail!(
            "building the ticket Lambda failed (`cargo {} --release -p wildrydes-tickets`); see the compiler output above",
            args.join(" ")
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "bootstrap")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| anyhow::anyhow!("cargo built no `bootstrap` executable"))
}

/// The newest `GLIBC_x.y` symbol version an ELF binary requires, if any.
pub fn required_glibc(elf: &[u8]) -> Option<(u32, u32)> {
    let needle = b"GLIBC_";
    let mut newest = None;
    let mut i = 0;
    while let Some(pos) = elf[i..].windows(needle.len()).position(|w| w == needle) {
        let start = i + pos + needle.len();
        let digits: String = elf[start..]
            .iter()
            .take(12)
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .map(|b| *b as char)
            .collect();
        let mut parts = digits.split('.').filter_map(|p| p.parse::<u32>().ok());
        if let (Some(major), Some(minor)) = (parts.next(), parts.next()) {
            newest = newest.max(Some((major, minor)));
        }
        i = start;
    }
    newest
}

/// Refuses a binary built for another instruction set than configured.
fn check_architecture(elf: &[u8], architecture: &str, path: &Path) -> anyhow::Result<()> {
    if elf.len() < 20 || &elf[..4] != b"\x7fELF" {
        anyhow::bail!("{} is not an ELF executable", path.display());
    }
    let machine = u16::from_le_bytes([elf[18], elf[19]]);
    let actual = match machine {
        0x3e => "x86_64",
        0xb7 => "arm64",
        _ => "another architecture",
    };
    if actual != architecture {
        anyhow::bail!(
            "{} is built for {actual}, but lambda.architecture is {architecture}",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_are_byte_for_byte_repeatable() {
        let a = zip_bootstrap(b"\x7fELF binary").unwrap();
        let b = zip_bootstrap(b"\x7fELF binary").unwrap();
        assert_eq!(a, b);
        let c = zip_bootstrap(b"\x7fELF other").unwrap();
        assert_ne!(a, c);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a)).unwrap();
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn finds_the_newest_glibc_version_required() {
        let elf = b"..GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0GLIBC_PRIVATE\0";
        assert_eq!(required_glibc(elf), Some((2, 34)));
        assert_eq!(required_glibc(b"no versions"), None);
        let newer = b"GLIBC_2.38\0GLIBC_2.4\0";
        assert_eq!(required_glibc(newer), Some((2, 38)));
    }

    #[test]
    fn this_hosts_own_binary_passes_the_checks() {
        let me = std::env::current_exe().unwrap();
        let arch = if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "x86_64"
        };
        let pkg = package_binary(&me, arch, false).unwrap();
        assert_eq!(pkg.code_sha256.len(), 44);
        let other = if arch == "x86_64" { "arm64" } else { "x86_64" };
        assert!(package_binary(&me, other, false).is_err());
    }
}
