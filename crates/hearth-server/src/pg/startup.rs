//! Connection startup: authentication, the database check, server parameters, and the
//! connection's session.
//!
//! Without `--auth-token` every client is let in (the listener binds to loopback unless told
//! otherwise). With it, the client must prove it knows the token by SCRAM-SHA-256 (RFC 5802,
//! as PostgreSQL does; over TLS also SCRAM-SHA-256-PLUS, which binds the proof to the server's
//! certificate): the token itself never crosses the wire, and the server keeps only its salted
//! form. Any user name is accepted; the token is the password. A wrong token is refused with
//! `FATAL 28P01` and logged with the user name and address, never the secret. As in
//! PostgreSQL, the database is checked after authentication (`FATAL 3D000`), so a client that
//! cannot log in cannot learn which databases exist.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use datafusion_postgres::pgwire::api::auth::sasl::{
    SASLState, SCRAM_SHA_256_METHOD, SCRAM_SHA_256_PLUS_METHOD,
};
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, ServerParameterProvider,
    StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{ClientInfo, PgWireConnectionState};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use hearth_query::functions::PG_VERSION;

use super::session::{Connection, Shared};

/// SCRAM iterations (PostgreSQL's default).
const ITERATIONS: usize = 4096;

/// The salted form of the auth token that SCRAM checks proofs against (RFC 5802's
/// SaltedPassword; the token is not kept).
#[derive(Debug)]
pub struct Verifier {
    salt: Vec<u8>,
    salted: Vec<u8>,
}

impl Verifier {
    /// The verifier of `token`, with a fresh random salt.
    pub fn new(token: &str) -> Verifier {
        let salt: [u8; 16] = rand_bytes();
        Verifier {
            salted: gen_salted_password(token, &salt, ITERATIONS),
            salt: salt.to_vec(),
        }
    }
}

/// 16 random bytes.
fn rand_bytes() -> [u8; 16] {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut out = [0u8; 16];
    // SystemRandom reads the OS's generator; it fails only if the OS has none.
    SystemRandom::new()
        .fill(&mut out)
        .expect("the operating system's random number generator works");
    out
}

#[async_trait]
impl AuthSource for Verifier {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

/// The server parameters clients read at startup.
pub(super) struct Parameters {
    defaults: DefaultServerParameterProvider,
}

impl Parameters {
    pub(super) fn new(superuser: bool) -> Parameters {
        let mut defaults = DefaultServerParameterProvider::default();
        // Clients pick their catalog queries by version: keep it a PostgreSQL 16 number.
        defaults.server_version = format!("{PG_VERSION} (Hearth {})", env!("CARGO_PKG_VERSION"));
        defaults.date_style = "ISO, MDY".to_string();
        defaults.time_zone = "UTC".to_string();
        defaults.is_superuser = superuser;
        Parameters { defaults }
    }
}

impl ServerParameterProvider for Parameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let mut params = self.defaults.server_parameters(client)?;
        // What the client asked for at startup, as the session's settings now hold it.
        if let Some(session) = client.session_extensions().get::<Connection>() {
            for name in ["application_name", "DateStyle", "TimeZone", "IntervalStyle"] {
                if let Some(v) = session.settings.get(name) {
                    params.insert(name.to_string(), v);
                }
            }
        }
        Some(params)
    }
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

/// One connection's startup (pgwire asks for a new handler per connection).
pub(super) struct Startup {
    shared: Arc<Shared>,
    scram: Option<ScramAuth>,
    state: tokio::sync::Mutex<SASLState>,
    /// Set once the client is logged in (the connection's startup deadline then no longer
    /// applies).
    admitted: Arc<AtomicBool>,
}

impl Startup {
    pub(super) fn new(shared: Arc<Shared>, admitted: Arc<AtomicBool>) -> Startup {
        let scram = shared.verifier.as_ref().map(|v| {
            let mut scram = ScramAuth::new(v.clone() as Arc<dyn AuthSource>);
            scram.set_iterations(ITERATIONS);
            if let Some(pem) = &shared.certificate_pem
                && let Err(e) = scram.configure_certificate(pem)
            {
                tracing::warn!(error = %e, "SCRAM channel binding is off: cannot read the certificate");
            }
            scram
        });
        Startup {
            shared,
            scram,
            state: tokio::sync::Mutex::new(SASLState::Initial),
            admitted,
        }
    }

    /// After authentication: the database must exist; then the session is set up and the
    /// client told the server's parameters.
    async fn admit<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let metadata = client.metadata();
        // Like PostgreSQL: without a database parameter the user name is the database.
        let db = metadata
            .get("database")
            .or_else(|| metadata.get("user"))
            .cloned()
            .unwrap_or_default();
        if !self.shared.engine.catalogs().exists(&db) {
            return Err(fatal("3D000", format!("database \"{db}\" does not exist")));
        }
        let (pid, key) = self.shared.pids.generate(&*client);
        client.set_pid_and_secret_key(pid, key.clone());
        let connection = self.shared.connect(client, &db, pid, key);
        client.session_extensions().insert(connection);
        self.admitted.store(true, Ordering::Release);
        finish_authentication(client, &self.shared.parameters).await
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                if self.shared.tls_required && !client.is_secure() {
                    return Err(fatal(
                        "28000",
                        "this server accepts TLS connections only: connect with sslmode=require"
                            .into(),
                    ));
                }
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let Some(scram) = &self.scram else {
                    return self.admit(client).await;
                };
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let mut mechanisms = vec![SCRAM_SHA_256_METHOD.to_string()];
                if client.is_secure() && scram.supports_channel_binding() {
                    mechanisms.insert(0, SCRAM_SHA_256_PLUS_METHOD.to_string());
                }
                client
                    .send(PgWireBackendMessage::Authentication(Authentication::SASL(
                        mechanisms,
                    )))
                    .await?;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let Some(scram) = &self.scram else {
                    return Ok(());
                };
                let mut state = self.state.lock().await;
                let message = if matches!(*state, SASLState::Initial) {
                    let first = message.into_sasl_initial_response()?;
                    let plus = first.auth_method == SCRAM_SHA_256_PLUS_METHOD;
                    if !(first.auth_method == SCRAM_SHA_256_METHOD || plus && client.is_secure()) {
                        return Err(PgWireError::UnsupportedSASLAuthMethod(first.auth_method));
                    }
                    *state = SASLState::ScramClientFirstReceived;
                    PasswordMessageFamily::SASLInitialResponse(first)
                } else {
                    PasswordMessageFamily::SASLResponse(message.into_sasl_response()?)
                };
                let (reply, next) = match scram.process_scram_message(client, message, &state).await
                {
                    Ok(r) => r,
                    Err(e) => {
                        let user = client.metadata().get("user").cloned().unwrap_or_default();
                        tracing::warn!(
                            user = %user,
                            peer = %client.socket_addr(),
                            "PostgreSQL authentication failed"
                        );
                        return Err(match e {
                            PgWireError::InvalidPassword(_) => fatal(
                                "28P01",
                                format!("password authentication failed for user \"{user}\""),
                            ),
                            other => other,
                        });
                    }
                };
                client
                    .send(PgWireBackendMessage::Authentication(reply))
                    .await?;
                *state = next;
                if matches!(*state, SASLState::Finished) {
                    drop(state);
                    self.admit(client).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
