//! What a plugin's store holds during one call: its WASI context (no files, no environment,
//! sockets only through the grant), wasi:http with the grant hook, the limiter and the call's
//! identity and deadline.

use super::limits::{Limiter, Limits};
use crate::capability::net::{DenyHook, NetGrant};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// Who is calling and with what rights: set by the scheduler (or the CLI) per call.
#[derive(Clone)]
pub struct CallGrant {
    /// Name of the check the call serves (or a label such as `describe`, `cli`).
    pub check: Arc<str>,
    /// The network grant, names resolved.
    pub net: Arc<NetGrant>,
    /// Called with the address when the plugin is denied one.
    pub on_deny: DenyHook,
}

impl CallGrant {
    /// No rights at all; denials are only logged.
    pub fn none(check: &str) -> Self {
        Self {
            check: check.into(),
            net: Arc::new(NetGrant::default()),
            on_deny: Arc::new(|_| {}),
        }
    }
}

/// Identity, rights and deadline of the call in progress.
pub struct CallContext {
    /// The plugin's name.
    pub plugin: Arc<str>,
    /// The check's name.
    pub check: Arc<str>,
    /// The network grant.
    pub net: Arc<NetGrant>,
    /// Denial hook (logs and counts).
    pub on_deny: DenyHook,
    /// When the call must be over.
    pub deadline: Instant,
    /// Log lines written so far.
    pub log_lines: u32,
}

impl CallContext {
    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// The data of a plugin's `Store`.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: HttpGrantHooks,
    pub(crate) limiter: Limiter,
    pub(crate) call: CallContext,
    /// Keeps the epoch ticking while this call lives.
    pub(crate) ticking: Option<crate::plugin::engine::Ticking>,
}

impl HostState {
    /// State for one call of `plugin` with `grant`, ending at `deadline`.
    pub fn new(plugin: Arc<str>, grant: &CallGrant, limits: &Limits, deadline: Instant) -> Self {
        let mut wasi = WasiCtx::builder();
        // TCP and UDP are on so that every attempt reaches the address check, which is where
        // denials are logged; name lookup only when something is granted.
        let net = grant.net.clone();
        let deny = grant.on_deny.clone();
        wasi.allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(!grant.net.is_empty())
            .socket_addr_check(move |addr, usage| {
                let ok = net.allows_socket(addr, usage);
                if !ok && matches!(usage, SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend) {
                    deny(&addr.to_string());
                }
                Box::pin(async move { ok })
            });
        Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: HttpGrantHooks {
                net: grant.net.clone(),
                on_deny: grant.on_deny.clone(),
                deadline,
            },
            ticking: None,
            limiter: Limiter::new(limits),
            call: CallContext {
                plugin,
                check: grant.check.clone(),
                net: grant.net.clone(),
                on_deny: grant.on_deny.clone(),
                deadline,
                log_lines: 0,
            },
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// wasi:http hooks: every outgoing request is checked against the grant before the host sends
/// it, and its timeouts are clamped to the call's deadline.
struct HttpGrantHooks {
    net: Arc<NetGrant>,
    on_deny: DenyHook,
    deadline: Instant,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for HttpGrantHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or("").to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !self.net.allows_authority(&host, port) {
            (self.on_deny)(&format!("{host}:{port}"));
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        let mut options = options.unwrap_or_default();
        for t in [
            &mut options.connect_timeout,
            &mut options.first_byte_timeout,
            &mut options.between_bytes_timeout,
        ] {
            *t = Some(t.map_or(left, |t| t.min(left)));
        }
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
