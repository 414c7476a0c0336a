//! A registry with the OCI 1.1 Referrers API (ferro-oci-server 1.0.0, a dev-dependency) for the
//! demo and for trying referrify by hand. Listens on loopback only.
//!
//! `cargo run --example ferro_registry -- 127.0.0.1:5001 [STORAGE_DIR]`

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:5001".into());
    let addr: std::net::SocketAddr = listen.parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("refusing to listen on {addr}: loopback addresses only").into());
    }
    let storage = args.next().map(std::path::PathBuf::from);
    let config = ferro_oci_server::Config::from_raw(Some(listen), storage);
    ferro_oci_server::serve(&config).await
}
