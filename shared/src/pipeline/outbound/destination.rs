//! Where outbound webhooks may go. A destination is checked twice: its URL when it is
//! registered (scheme, literal addresses, local names), and the addresses its host resolves
//! to right before each send, which are then the only ones connected to, so a name that
//! later resolves to a private or metadata address is refused, not followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// Longest destination URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why a destination is refused, in words for the owner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(reason: impl Into<String>) -> Refused {
    Refused(reason.into())
}

/// The URL, if it may be registered: `https` (or `http` to a loopback address when
/// `allow_loopback`), no credentials in it, and no literal address or local name that is not
/// public.
pub fn check_url(raw: &str, allow_loopback: bool) -> Result<Url, Refused> {
    if raw.len() > MAX_URL_LEN {
        return Err(refused(format!(
            "the url is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url = Url::parse(raw).map_err(|e| refused(format!("the url is not valid: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("the url must not carry credentials"));
    }
    let host = url
        .host()
        .ok_or_else(|| refused("the url has no host"))?
        .to_owned();
    let loopback = match &host {
        Host::Ipv4(ip) => check_address(IpAddr::V4(*ip), allow_loopback)?,
        Host::Ipv6(ip) => check_address(IpAddr::V6(*ip), allow_loopback)?,
        Host::Domain(name) => check_name(name, allow_loopback)?,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" if allow_loopback => {
            return Err(refused(
                "the url must be https (http is allowed only to a loopback address)",
            ))
        }
        _ => return Err(refused("the url must be https")),
    }
    Ok(url)
}

/// The addresses to connect to for `url`, each allowed; refused when any is not, or when
/// the name does not resolve.
pub async fn resolve(url: &Url, allow_loopback: bool) -> Result<Vec<SocketAddr>, Refused> {
    let url = check_url(url.as_str(), allow_loopback)?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| refused("the url has no port"))?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| refused(format!("the host `{name}` could not be resolved")))?
            .collect(),
        None => return Err(refused("the url has no host")),
    };
    if addrs.is_empty() {
        return Err(refused("the host resolved to no address"));
    }
    for addr in &addrs {
        check_address(addr.ip(), allow_loopback)?;
    }
    Ok(addrs)
}

/// Whether `name` is a loopback name (allowed); refused when it names this machine or a
/// local network and loopback is not allowed.
fn check_name(name: &str, allow_loopback: bool) -> Result<bool, Refused> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let loopback = name == "localhost" || name.ends_with(".localhost");
    if loopback {
        return if allow_loopback {
            Ok(true)
        } else {
            Err(refused("the url must not point at this machine"))
        };
    }
    if name.ends_with(".internal") || name.ends_with(".local") || !name.contains('.') {
        return Err(refused("the url must name a public host"));
    }
    Ok(false)
}

/// Whether `ip` is loopback (allowed); refused when it is not public.
fn check_address(ip: IpAddr, allow_loopback: bool) -> Result<bool, Refused> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return if allow_loopback {
            Ok(true)
        } else {
            Err(refused("the url must not point at this machine"))
        };
    }
    let private = match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    };
    if private {
        return Err(refused(format!(
            "the url must not point at a private, link-local or metadata address ({ip})"
        )));
    }
    Ok(false)
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_link_local() // 169.254/16: the cloud metadata service among them
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (AWS's fd00:ec2::254 metadata among them)
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || ip.to_ipv4().is_some_and(|v4| ip.segments()[..6] == [0; 6] && private_v4(v4))
    // IPv4-compatible
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_mode_takes_public_https_only() {
        for ok in [
            "https://hooks.example.com/callsync",
            "https://93.184.216.34:8443/x",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            "https://172.16.4.2/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://0.0.0.0/",
            "https://localhost/",
            "https://metadata.google.internal/",
            "https://intranet/",
            "https://user:pass@hooks.example.com/",
            "ftp://hooks.example.com/",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn local_mode_adds_loopback_http_but_nothing_private() {
        for ok in [
            "http://127.0.0.1:9000/hook",
            "http://localhost:9000/",
            "http://[::1]:80/",
        ] {
            assert!(check_url(ok, true).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/",
            "https://10.0.0.1/",
            "http://169.254.169.254/",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad} was accepted");
        }
    }

    #[tokio::test]
    async fn resolution_refuses_what_registration_would() {
        let url = Url::parse("https://127.0.0.1:9/").unwrap();
        assert!(resolve(&url, false).await.is_err());
        assert_eq!(
            resolve(&url, true).await.unwrap(),
            vec!["127.0.0.1:9".parse().unwrap()]
        );
    }
}
