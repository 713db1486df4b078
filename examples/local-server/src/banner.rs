//! What the server prints on stdout once it listens: where it is, how to
//! trust it, the master token (first start only) and how to use it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::setup::{MasterToken, Setup};

/// Prints the start-up banner for a server bound to `addr`.
pub(crate) fn print(setup: &Setup, addr: SocketAddr) {
    println!("{}", render(setup, addr));
}

fn render(setup: &Setup, addr: SocketAddr) -> String {
    // Clients reach a wildcard listener on loopback.
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    };
    let scheme = if setup.tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{host}");
    let mut out = format!("listening on {url}\n");
    out += &format!("data directory: {}\n", setup.data_dir.display());

    let mut cacert = String::new();
    match &setup.tls {
        Some(tls) if tls.self_signed => {
            let cert = tls.cert_path.display();
            out += &format!(
                "\nTLS certificate (self-signed): {cert}\n\
                 Terraform and other clients must trust it, e.g.\n  \
                 export SSL_CERT_FILE={cert}\n\
                 (SSL_CERT_FILE replaces the system CA list for that shell: to reach public registries\n\
                 too, point it at a copy of your CA bundle with this certificate appended.)\n"
            );
            cacert = format!("--cacert {cert} ");
        }
        Some(tls) => out += &format!("\nTLS certificate: {}\n", tls.cert_path.display()),
        None => {
            out += "\nplain HTTP: put a TLS-terminating proxy in front; Terraform only uses registries over HTTPS.\n";
        }
    }

    let token = match &setup.master_token {
        MasterToken::New(token) => {
            out += &format!(
                "\nmaster token: {}\n\
                 It is shown only this once: store it now. Only its SHA-256 is kept, in {}.\n",
                token.expose_secret(),
                setup.master_token_file.display()
            );
            token.expose_secret().to_owned()
        }
        MasterToken::Existing(_) => {
            out += &format!(
                "\nmaster token: not shown again (it was printed on first start; only its SHA-256 is kept).\n\
                 To get a new one, stop the server, delete {} and start it again.\n",
                setup.master_token_file.display()
            );
            "<master token>".to_owned()
        }
        MasterToken::Configured(_) => {
            out += "\nmaster token: the one given by --master-token / --master-token-sha256 (or TFR_MASTER_TOKEN / TFR_MASTER_TOKEN_SHA256).\n";
            "<master token>".to_owned()
        }
    };

    out += &format!(
        "\nTerraform CLI configuration (~/.terraformrc):\n  \
         credentials \"{host}\" {{\n    token = \"{token}\"\n  }}\n"
    );
    out += &format!(
        "\npublish a module:\n  \
         curl {cacert}-H \"Authorization: Bearer $TOKEN\" --upload-file module.tar.gz {url}/v1/modules/acme/vpc/aws/1.0.0\n"
    );
    out
}
