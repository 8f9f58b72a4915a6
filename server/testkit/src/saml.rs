//! A SAML 2.0 identity provider for tests: SimpleSAMLphp from Debian
//! (`simplesamlphp`, `php8.2-cli`, `php8.2-xml`, installed by
//! `scripts/test`), started per test with `php -S` on a free port, with the
//! config in e2e/saml, a key pair generated for it, and the service
//! providers the test adds ([`SimpleSamlPhp::add_sp`]: its config files
//! are read at every request, so an SP can be added once the connection,
//! and so its entity id and assertion consumer service, exists).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Where Debian installs SimpleSAMLphp's web root.
const WWW: &str = "/usr/share/simplesamlphp/www";

/// A running SimpleSAMLphp identity provider.
pub struct SimpleSamlPhp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    dir: tempfile::TempDir,
    sps: Mutex<Vec<(String, String)>>,
    child: Child,
}

impl Drop for SimpleSamlPhp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn template_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e/saml")
}

fn fill(template: &Path, out: &Path, vars: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(template).expect("a SimpleSAMLphp template");
    for (name, value) in vars {
        text = text.replace(name, value);
    }
    std::fs::write(out, text).expect("write SimpleSAMLphp config");
}

/// A PHP single-quoted string literal.
fn php(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl SimpleSamlPhp {
    pub async fn start() -> Self {
        assert!(
            Path::new(WWW).exists(),
            "SimpleSAMLphp is not installed: run scripts/test, or apt-get install simplesamlphp php8.2-cli php8.2-xml php8.2-mbstring php8.2-curl"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let dir = tempfile::tempdir().expect("a SimpleSAMLphp directory");
        let root = dir.path();
        for sub in ["cert", "log", "data", "tmp", "sessions", "metadata"] {
            std::fs::create_dir_all(root.join(sub)).expect("a SimpleSAMLphp directory");
        }
        let status = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=ditto-test-idp", "-keyout"])
            .arg(root.join("cert/idp.key"))
            .arg("-out")
            .arg(root.join("cert/idp.crt"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl made no key pair");
        let templates = template_dir();
        let root_text = root.to_str().expect("a UTF-8 temp path");
        let vars = [("@BASEURL@", base.as_str()), ("@DIR@", root_text)];
        fill(
            &templates.join("config.php"),
            &root.join("config.php"),
            &vars,
        );
        fill(
            &templates.join("authsources.php"),
            &root.join("authsources.php"),
            &vars,
        );
        fill(
            &templates.join("metadata/saml20-idp-hosted.php"),
            &root.join("metadata/saml20-idp-hosted.php"),
            &vars,
        );
        let child = Command::new("php")
            .args(["-S", &format!("127.0.0.1:{port}"), "-t", WWW])
            .env("SIMPLESAMLPHP_CONFIG_DIR", root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("php runs (apt-get install php8.2-cli)");
        let idp = Self {
            base,
            dir,
            sps: Mutex::new(Vec::new()),
            child,
        };
        idp.write_sps();
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(idp.metadata_url()).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "SimpleSAMLphp did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        idp
    }

    /// The provider's metadata, which is also its entity id.
    pub fn metadata_url(&self) -> String {
        format!("{}/saml2/idp/metadata.php", self.base)
    }

    /// The key pair the provider signs with (PEM), for tests that sign
    /// their own responses as the provider would.
    pub fn key_pem(&self) -> PathBuf {
        self.dir.path().join("cert/idp.key")
    }

    pub fn cert_pem(&self) -> PathBuf {
        self.dir.path().join("cert/idp.crt")
    }

    /// Where a sign-in started at the provider (IdP-initiated) for the
    /// service provider `sp_entity_id` begins.
    pub fn idp_initiated_url(&self, sp_entity_id: &str) -> String {
        let mut url =
            url::Url::parse(&format!("{}/saml2/idp/SSOService.php", self.base)).expect("a URL");
        url.query_pairs_mut()
            .append_pair("spentityid", sp_entity_id);
        url.to_string()
    }

    /// Lets the service provider `entity_id` sign in, its responses posted
    /// to `acs_url`.
    pub fn add_sp(&self, entity_id: &str, acs_url: &str) {
        self.sps
            .lock()
            .expect("the SP list")
            .push((entity_id.to_owned(), acs_url.to_owned()));
        self.write_sps();
    }

    fn write_sps(&self) {
        let entries: String = self
            .sps
            .lock()
            .expect("the SP list")
            .iter()
            .map(|(entity, acs)| {
                format!(
                    "$metadata[{}] = [\n    'AssertionConsumerService' => {},\n    \
                     'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',\n    \
                     'simplesaml.nameidattribute' => 'mail',\n    \
                     'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',\n];\n",
                    php(entity),
                    php(acs)
                )
            })
            .collect();
        fill(
            &template_dir().join("metadata/saml20-sp-remote.php"),
            &self.dir.path().join("metadata/saml20-sp-remote.php"),
            &[("@SP_ENTRIES@", &entries)],
        );
    }
}

/// Identity provider metadata for tests that need a SAML connection to
/// exist (the authorization matrix) but never sign in through it: a
/// redirect endpoint nobody listens on and a fixed certificate whose key is
/// thrown away.
pub fn metadata_fixture() -> String {
    const CERT: &str = "MIIBjjCCATOgAwIBAgIUJzJUzKakuJ5a5uWoJMiONWtay5QwCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRZGl0dG8tZml4dHVyZS1pZHAwHhcNMjYxMTI2MTQ0MDAzWhcNMzYxMTIzMTQ0MDAzWjAcMRowGAYDVQQDDBFkaXR0by1maXh0dXJlLWlkcDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABH6tYqrjtnhMvX5oiQrsZMYbT/RWIQP0IoFwYqQbj83Jsa5fnlPR0gJLfpdxgHEqa4USlajiW1il56BlyCh5GhujUzBRMB0GA1UdDgQWBBQ7KX57GBruXsftak5w+CehtQ7yATAfBgNVHSMEGDAWgBQ7KX57GBruXsftak5w+CehtQ7yATAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCJ8MAHKwgo5PAHPTWwOVbrfmWfK2gJ0RuAr0wcQ8FvbQIhAI6pOYHliFZaEVnQSwEdKSAtAE4cQdfvtQJtSlOZaaOv";
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:ditto:test:fixture-idp">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{CERT}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://127.0.0.1:9/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}
