//! [`S3Storage`]: published module archives as S3 objects.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use bytes::Bytes;
use registry_core::version::sort_versions;
use registry_core::{
    Archive, ArchiveAccess, ArchiveContent, ArchiveFormat, ArchiveInfo, ArchiveLocation,
    ModuleAddress, Storage, StorageError, Version,
};

use crate::bucket::{Bucket, Head, PutBody};
use crate::config::S3Config;
use crate::error::corrupt;

/// The claim object in every version folder the registry publishes: it holds the
/// winning archive's format (`tar.gz` or `zip`) and arbitrates between racing
/// publishes of different formats.
const CLAIM: &str = ".claim";

/// Both formats, in the order archives are looked for.
const FORMATS: [ArchiveFormat; 2] = [ArchiveFormat::TarGz, ArchiveFormat::Zip];

/// A [`Storage`] on S3: the archive of `{namespace}/{name}/{system}` at `{version}`
/// is the object `{prefix}{namespace}/{name}/{system}/{version}/{name}-{system}-{version}.tar.gz`
/// (or `.zip`), with its SHA-256 in the `x-amz-meta-sha256` metadata (hex) and
/// as the S3 SHA-256 checksum.
///
/// Publishing is a `PutObject` with `If-None-Match: *`, so of racing publishes
/// exactly one wins without any read-then-write; downloads are presigned
/// `GetObject` URLs (or go through the registry, see
/// [`S3Config::serve_through_registry`]). The crate README describes the layout.
#[derive(Clone)]
pub struct S3Storage {
    bucket: Bucket,
    presign_ttl: Duration,
    serve_through_registry: bool,
}

impl fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Storage")
            .field("bucket", &self.bucket)
            .field("presign_ttl", &self.presign_ttl)
            .field("serve_through_registry", &self.serve_through_registry)
            .finish()
    }
}

impl S3Storage {
    /// Connects with the standard AWS configuration (credential chain, region,
    /// `AWS_*` variables and profiles), overridden by `config`'s region, endpoint
    /// and addressing, and checks with `HeadBucket` that the bucket exists and the
    /// credentials work. HTTPS uses rustls (ring) with the system's root certificates.
    ///
    /// # Errors
    /// [`StorageError::Misconfigured`] saying what to fix when no region is
    /// configured, the bucket does not exist, the credentials are missing or
    /// rejected, or access is denied; [`StorageError::Unavailable`] if S3 cannot be
    /// reached.
    pub async fn connect(config: S3Config) -> Result<Self, StorageError> {
        let bucket = Bucket::connect(&config).await?;
        bucket.check().await?;
        Ok(Self::with_bucket(bucket, &config))
    }

    /// Uses a ready client (its credentials, region and endpoint); `config`
    /// supplies the bucket, prefix and download settings. Makes no request.
    pub fn from_client(client: Client, config: S3Config) -> Self {
        Self::with_bucket(Bucket::new(client, &config), &config)
    }

    fn with_bucket(bucket: Bucket, config: &S3Config) -> Self {
        Self {
            bucket,
            presign_ttl: config.presign_ttl,
            serve_through_registry: config.serve_through_registry,
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket.name
    }

    /// The key prefix (`""` or ending in `/`).
    pub fn prefix(&self) -> &str {
        &self.bucket.prefix
    }

    /// `{prefix}{namespace}/{name}/{system}/`.
    fn module_prefix(&self, m: &ModuleAddress) -> String {
        // Address parts are `[A-Za-z0-9_-]` (validated by `ModuleAddress`): safe in keys.
        format!(
            "{}{}/{}/{}/",
            self.bucket.prefix,
            m.namespace(),
            m.name(),
            m.system()
        )
    }

    /// `{prefix}{namespace}/{name}/{system}/{version}/`.
    fn version_prefix(&self, m: &ModuleAddress, v: &Version) -> String {
        // `[0-9A-Za-z.+-]`; the SDK percent-encodes `+` in the request path.
        format!("{}{v}/", self.module_prefix(m))
    }

    fn archive_key(&self, m: &ModuleAddress, v: &Version, format: ArchiveFormat) -> String {
        format!(
            "{}{}-{}-{v}{}",
            self.version_prefix(m, v),
            m.name(),
            m.system(),
            format.suffix()
        )
    }

    /// `{prefix}_metadata/{namespace}/{name}/{system}/{version}.json`: outside
    /// the version's own prefix, so that a document can never make a version
    /// appear in a listing (`_` starts no namespace).
    fn metadata_key(&self, m: &ModuleAddress, v: &Version) -> String {
        format!(
            "{}_metadata/{}/{}/{}/{v}.json",
            self.bucket.prefix,
            m.namespace(),
            m.name(),
            m.system()
        )
    }

    fn claim_key(&self, m: &ModuleAddress, v: &Version) -> String {
        format!("{}{CLAIM}", self.version_prefix(m, v))
    }

    /// Which archive is the version: `HeadObject` of both keys (concurrently). If
    /// both exist (a publish of the other format is backing out, or hand-made),
    /// the claim object decides.
    async fn find(
        &self,
        m: &ModuleAddress,
        v: &Version,
    ) -> Result<(ArchiveFormat, String, Head), StorageError> {
        let keys = FORMATS.map(|f| self.archive_key(m, v, f));
        let (tar, zip) =
            futures_util::future::join(self.bucket.head(&keys[0]), self.bucket.head(&keys[1]))
                .await;
        let [tar_key, zip_key] = keys;
        match (tar, zip) {
            (Ok(h), Err(StorageError::NotFound)) => Ok((ArchiveFormat::TarGz, tar_key, h)),
            (Err(StorageError::NotFound), Ok(h)) => Ok((ArchiveFormat::Zip, zip_key, h)),
            (Err(StorageError::NotFound), Err(StorageError::NotFound)) => {
                Err(StorageError::NotFound)
            }
            (Ok(t), Ok(z)) => match self.claimed_format(m, v).await? {
                Some(ArchiveFormat::TarGz) => Ok((ArchiveFormat::TarGz, tar_key, t)),
                Some(ArchiveFormat::Zip) => Ok((ArchiveFormat::Zip, zip_key, z)),
                None => Err(corrupt(
                    &self.bucket.name,
                    &self.version_prefix(m, v),
                    format!("it holds both {tar_key} and {zip_key} and no {CLAIM}: delete one"),
                )),
            },
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// The format the claim object names; `None` if there is no claim.
    async fn claimed_format(
        &self,
        m: &ModuleAddress,
        v: &Version,
    ) -> Result<Option<ArchiveFormat>, StorageError> {
        let key = self.claim_key(m, v);
        match self.bucket.get(&key).await {
            Ok(obj) => {
                let text = String::from_utf8_lossy(&obj.bytes);
                format_from_name(text.trim())
                    .map(Some)
                    .ok_or_else(|| corrupt(&self.bucket.name, &key, "not 'tar.gz' or 'zip'"))
            }
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn info(
        &self,
        key: &str,
        format: ArchiveFormat,
        head: &Head,
    ) -> Result<ArchiveInfo, StorageError> {
        let sha256 = head.sha256.ok_or_else(|| {
            corrupt(
                &self.bucket.name,
                key,
                "no SHA-256 recorded: upload it with metadata sha256=<hex> \
                 (x-amz-meta-sha256) or with a SHA-256 checksum (single-part)",
            )
        })?;
        Ok(ArchiveInfo {
            format,
            sha256,
            size: head.size,
        })
    }
}

fn format_from_name(name: &str) -> Option<ArchiveFormat> {
    FORMATS.into_iter().find(|f| &f.suffix()[1..] == name)
}

/// The version a common prefix `{module prefix}{version}/` names, if it is a
/// canonical SemVer version.
fn version_of(common_prefix: &str, module_prefix: &str) -> Option<Version> {
    let name = common_prefix
        .strip_prefix(module_prefix)?
        .strip_suffix('/')?;
    let version = Version::parse(name).ok()?;
    (version.to_string() == name).then_some(version)
}

#[async_trait]
impl Storage for S3Storage {
    /// 1. `HeadObject` of the other format's key: if it exists, `AlreadyExists`
    ///    (covers versions uploaded by hand).
    /// 2. `PutObject` of the archive with `If-None-Match: *` (412 -> `AlreadyExists`):
    ///    settles races between publishes of one format.
    /// 3. `PutObject` of `{version}/.claim` with `If-None-Match: *`: settles races
    ///    between publishes of different formats; the loser deletes its archive.
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        let info = archive.info();
        let other = FORMATS
            .into_iter()
            .find(|f| *f != info.format)
            .unwrap_or(ArchiveFormat::Zip);
        match self
            .bucket
            .head(&self.archive_key(module, version, other))
            .await
        {
            Ok(_) => return Err(StorageError::AlreadyExists),
            Err(StorageError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let key = self.archive_key(module, version, info.format);
        let body = match archive.content() {
            ArchiveContent::Memory(bytes) => PutBody::Bytes(bytes),
            ArchiveContent::File(path) => PutBody::File(path),
        };
        self.bucket
            .put_if_absent(&key, body, Some(info.sha256), info.format.content_type())
            .await?;
        let claim = Bytes::from_static(&info.format.suffix().as_bytes()[1..]);
        match self
            .bucket
            .put_if_absent(
                &self.claim_key(module, version),
                PutBody::Bytes(&claim),
                None,
                "text/plain",
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(StorageError::AlreadyExists) => {
                // The other format won the claim: back out our archive.
                if let Err(undo) = self.bucket.delete(&key).await {
                    tracing::warn!(key, error = %undo, "could not remove the archive of a lost publish");
                }
                Err(StorageError::AlreadyExists)
            }
            // The claim's fate is unknown (S3 may have stored it before the error).
            // Keep the archive: the version is then complete either way, and a
            // retry answers AlreadyExists instead of leaving a claim without archive.
            Err(e) => Err(e),
        }
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        let prefix = self.module_prefix(module);
        let listing = self.bucket.list(&prefix).await?;
        let mut versions: Vec<Version> = listing
            .prefixes
            .iter()
            .filter_map(|p| version_of(p, &prefix))
            .collect();
        sort_versions(&mut versions);
        Ok(versions)
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        let (format, key, head) = self.find(module, version).await?;
        let obj = self.bucket.get(&key).await?;
        let archive = Archive::new(format, obj.bytes);
        if let Some(recorded) = head.sha256 {
            if recorded != archive.info().sha256 {
                return Err(corrupt(
                    &self.bucket.name,
                    &key,
                    format!(
                        "its bytes have SHA-256 {}, the recorded one is {recorded}",
                        archive.info().sha256
                    ),
                ));
            }
        }
        Ok(archive)
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        let (format, key, head) = self.find(module, version).await?;
        let info = self.info(&key, format, &head)?;
        let access = if self.serve_through_registry {
            ArchiveAccess::ThroughRegistry
        } else {
            ArchiveAccess::Presigned {
                url: self.bucket.presign_get(&key, self.presign_ttl).await?,
            }
        };
        Ok(ArchiveLocation { info, access })
    }

    /// Deletes the claim first, then the archives: a crash in between leaves an
    /// archive without a claim, which is still a complete version (delete again).
    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        let keys = FORMATS.map(|f| self.archive_key(module, version, f));
        let (tar, zip) =
            futures_util::future::join(self.bucket.head(&keys[0]), self.bucket.head(&keys[1]))
                .await;
        let mut present = Vec::new();
        for (key, head) in keys.iter().zip([tar, zip]) {
            match head {
                Ok(_) => present.push(key),
                Err(StorageError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        // The metadata document first: a crash after it leaves a version
        // without one, which the registry derives again from the archive.
        self.bucket
            .delete(&self.metadata_key(module, version))
            .await?;
        // A stray claim (its archive removed by hand) goes too.
        self.bucket.delete(&self.claim_key(module, version)).await?;
        if present.is_empty() {
            return Err(StorageError::NotFound);
        }
        for key in present {
            self.bucket.delete(key).await?;
        }
        Ok(())
    }

    async fn write_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError> {
        // The version must exist (a HEAD per format). A delete racing this
        // write can leave the document behind (S3 has no transaction over
        // two keys): nothing lists it, but if the version is published again
        // `read_metadata` answers it until a new document is written.
        self.find(module, version).await?;
        self.bucket
            .put(
                &self.metadata_key(module, version),
                document,
                "application/json",
            )
            .await
    }

    async fn read_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError> {
        Ok(self
            .bucket
            .get(&self.metadata_key(module, version))
            .await?
            .bytes)
    }

    /// One `ListObjectsV2` page per 1,000 objects under the prefix.
    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        let listing = self.bucket.list_recursive(&self.bucket.prefix).await?;
        let mut modules: Vec<ModuleAddress> = listing
            .keys
            .iter()
            .filter_map(|k| k.strip_prefix(&self.bucket.prefix))
            .filter_map(module_of_archive_key)
            .collect();
        modules.sort();
        modules.dedup();
        Ok(modules)
    }

    /// One `ListObjectsV2` of at most one key under the prefix: allowed by
    /// a policy that grants `s3:ListBucket` only under `s3:prefix`, unlike
    /// `HeadBucket`.
    async fn probe(&self) -> Result<(), StorageError> {
        self.bucket
            .list_after(&self.bucket.prefix, None, 1)
            .await
            .map(drop)
    }
}

/// The module of `{namespace}/{name}/{system}/{version}/{name}-{system}-{version}{suffix}`
/// (a key relative to the prefix), if it is an archive's key.
fn module_of_archive_key(key: &str) -> Option<ModuleAddress> {
    let [ns, name, system, version, file] = key.split('/').collect::<Vec<_>>()[..] else {
        return None;
    };
    let module = ModuleAddress::new(ns, name, system).ok()?;
    let version = version_of(&format!("{version}/"), "")?;
    let stem = format!("{name}-{system}-{version}");
    let (file_stem, _) = ArchiveFormat::split_suffix(file)?;
    (file_stem == stem).then_some(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_common_prefixes() {
        let p = "pre/acme/vpc/aws/";
        let ok = |s: &str| version_of(&format!("{p}{s}/"), p).map(|v| v.to_string());
        assert_eq!(ok("1.2.0").as_deref(), Some("1.2.0"));
        assert_eq!(ok("1.0.0+build.5").as_deref(), Some("1.0.0+build.5"));
        assert_eq!(ok("2.0.0-rc.1").as_deref(), Some("2.0.0-rc.1"));
        for bad in ["v1.0.0", "1.0", "01.0.0", "latest", ""] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
        assert_eq!(version_of("other/1.0.0/", p), None);
        assert_eq!(version_of(&format!("{p}1.0.0"), p), None);
    }

    #[test]
    fn modules_from_archive_keys() {
        let m = |k: &str| module_of_archive_key(k).map(|m| m.to_string());
        assert_eq!(
            m("acme/vpc/aws/1.0.0/vpc-aws-1.0.0.tar.gz").as_deref(),
            Some("acme/vpc/aws")
        );
        assert_eq!(
            m("acme/vpc/aws/1.0.0/vpc-aws-1.0.0.zip").as_deref(),
            Some("acme/vpc/aws")
        );
        for not in [
            "acme/vpc/aws/1.0.0/.claim",
            "acme/vpc/aws/1.0.0/other-aws-1.0.0.zip",
            "_metadata/acme/vpc/aws/1.0.0.json",
            "tokens/by-name/ci.json",
            "acme/vpc/aws/v1/vpc-aws-v1.zip",
            "acme/vpc/AWS/1.0.0/vpc-AWS-1.0.0.zip",
        ] {
            assert_eq!(m(not), None, "{not}");
        }
    }

    #[test]
    fn claim_names_a_format() {
        assert_eq!(format_from_name("tar.gz"), Some(ArchiveFormat::TarGz));
        assert_eq!(format_from_name("zip"), Some(ArchiveFormat::Zip));
        assert_eq!(format_from_name(".zip"), None);
    }
}
