//! The guarded DNS resolver: reqwest connects only to the addresses this returns, and it returns
//! only addresses the guard lets through. Every connection reqwest opens to a named host resolves
//! through here afresh (reqwest caches no DNS answers), so a name that "rebinds" to a private
//! address between two lookups is refused on the lookup that returns it.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::guard;

/// Looks a host name up. Injectable so tests can answer without real DNS.
pub trait NameLookup: Send + Sync {
    /// The addresses `host` resolves to (ports are ignored: the URL's port, or the scheme's, is
    /// used).
    fn lookup<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>>;
}

/// The system resolver, through `tokio::net::lookup_host` (getaddrinfo on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The name resolved, but only to addresses the guard refuses. No connection was attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedAddressError {
    pub host: String,
    /// What the name resolved to (all refused).
    pub addresses: Vec<IpAddr>,
}

impl fmt::Display for BlockedAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} resolves only to blocked addresses (", self.host)?;
        for (i, addr) in self.addresses.iter().take(4).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{addr}")?;
        }
        if self.addresses.len() > 4 {
            write!(f, ", … {} more", self.addresses.len() - 4)?;
        }
        f.write_str(")")
    }
}

impl StdError for BlockedAddressError {}

/// The name could not be resolved (not found, no addresses, resolver failure).
#[derive(Debug)]
pub struct LookupError {
    pub host: String,
    pub cause: io::Error,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not resolve {}: {}", self.host, self.cause)
    }
}

impl StdError for LookupError {
    // The cause is already in the message; not exposed as a source so chains don't repeat it.
}

/// A `reqwest::dns::Resolve` that drops the addresses the guard refuses.
#[derive(Clone)]
pub struct GuardedResolver {
    lookup: Arc<dyn NameLookup>,
    allow: Arc<[IpNet]>,
}

impl GuardedResolver {
    #[must_use]
    pub fn new(lookup: Arc<dyn NameLookup>, allow: Arc<[IpNet]>) -> Self {
        GuardedResolver { lookup, allow }
    }

    /// Look `host` up and keep the addresses the guard lets through.
    ///
    /// # Errors
    /// [`LookupError`] when the lookup fails or finds nothing; [`BlockedAddressError`] when every
    /// address it found is refused.
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<IpAddr>, Box<dyn StdError + Send + Sync>> {
        let found =
            self.lookup.lookup(host).await.map_err(|cause| LookupError { host: host.to_owned(), cause })?;
        if found.is_empty() {
            return Err(Box::new(LookupError {
                host: host.to_owned(),
                cause: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
            }));
        }
        let allowed: Vec<IpAddr> =
            found.iter().copied().filter(|ip| !guard::is_blocked(*ip, &self.allow)).collect();
        if allowed.is_empty() {
            tracing::warn!(host, addresses = ?found, "refused: name resolves only to blocked addresses");
            return Err(Box::new(BlockedAddressError { host: host.to_owned(), addresses: found }));
        }
        if allowed.len() < found.len() {
            tracing::warn!(host, addresses = ?found, "dropped blocked addresses from the lookup");
        }
        Ok(allowed)
    }
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver").field("allow", &self.allow).finish_non_exhaustive()
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let ips = this.resolve_host(name.as_str()).await?;
            // Port 0: reqwest puts in the URL's port, or the scheme's default.
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<IpAddr>);

    impl NameLookup for Fixed {
        fn lookup<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
            let ips = self.0.clone();
            Box::pin(async move { Ok(ips) })
        }
    }

    struct Failing;

    impl NameLookup for Failing {
        fn lookup<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
            Box::pin(async { Err(io::Error::new(io::ErrorKind::NotFound, "no such host")) })
        }
    }

    fn resolver(lookup: impl NameLookup + 'static, allow: &[&str]) -> GuardedResolver {
        let allow: Vec<IpNet> = allow.iter().map(|s| s.parse().unwrap()).collect();
        GuardedResolver::new(Arc::new(lookup), allow.into())
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    // No test here connects anywhere: resolution only.

    #[tokio::test]
    async fn drops_blocked_addresses_and_keeps_the_rest() {
        let r = resolver(Fixed(ips(&["10.0.0.1", "93.184.216.34", "::1", "2606:4700::1111"])), &[]);
        let got = r.resolve_host("mixed.test").await.unwrap();
        assert_eq!(got, ips(&["93.184.216.34", "2606:4700::1111"]));
    }

    #[tokio::test]
    async fn all_blocked_is_a_blocked_address_error() {
        let r = resolver(Fixed(ips(&["169.254.169.254", "::ffff:10.0.0.1"])), &[]);
        let err = r.resolve_host("meta.test").await.unwrap_err();
        let blocked = err.downcast_ref::<BlockedAddressError>().expect("BlockedAddressError");
        assert_eq!(blocked.host, "meta.test");
        assert_eq!(blocked.addresses.len(), 2);
        assert_eq!(
            blocked.to_string(),
            "meta.test resolves only to blocked addresses (169.254.169.254, ::ffff:10.0.0.1)"
        );
    }

    #[tokio::test]
    async fn allow_list_applies() {
        let r = resolver(Fixed(ips(&["127.0.0.1", "127.0.0.2"])), &["127.0.0.1/32"]);
        assert_eq!(r.resolve_host("local.test").await.unwrap(), ips(&["127.0.0.1"]));
    }

    #[tokio::test]
    async fn lookup_failure_and_empty_answer_are_lookup_errors() {
        let err = resolver(Failing, &[]).resolve_host("nx.test").await.unwrap_err();
        assert!(err.downcast_ref::<LookupError>().is_some());
        assert_eq!(err.to_string(), "could not resolve nx.test: no such host");

        let err = resolver(Fixed(Vec::new()), &[]).resolve_host("empty.test").await.unwrap_err();
        assert!(err.downcast_ref::<LookupError>().is_some());
    }

    #[tokio::test]
    async fn resolve_trait_returns_port_zero_addresses() {
        let r = resolver(Fixed(ips(&["8.8.8.8"])), &[]);
        let name: Name = "public.test".parse().unwrap();
        let addrs: Vec<SocketAddr> = Resolve::resolve(&r, name).await.unwrap().collect();
        assert_eq!(addrs, vec!["8.8.8.8:0".parse::<SocketAddr>().unwrap()]);
    }
}
