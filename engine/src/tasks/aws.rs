//! The AWS SDK configuration integrations share: the standard credential
//! chain, region and endpoint settings (aws-config), with an HTTPS client on
//! rustls and ring. Loaded once, on first use.

use tokio::sync::OnceCell;

/// The shared `SdkConfig`.
pub async fn sdk_config() -> &'static aws_config::SdkConfig {
    static CFG: OnceCell<aws_config::SdkConfig> = OnceCell::const_new();
    CFG.get_or_init(|| async {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .load()
            .await
    })
    .await
}
