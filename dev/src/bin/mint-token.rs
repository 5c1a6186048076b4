//! Prints a signed HS256 bearer token for the local stack (or any stack whose secret you hold).
//!
//! `cargo run -q -p dev --bin mint-token -- --sub alice --role user --name Alice --ttl 3600`

use clap::Parser;
use markets_core::domain::Role;
use markets_lambda::auth::{Claims, mint_token};

#[derive(Parser)]
#[command(about = "Mint a bearer token signed with JWT_SECRET (default: the local dev secret)")]
struct Args {
    /// The user id (`sub` claim).
    #[arg(long, default_value = "dev-user")]
    sub: String,
    /// user, moderator or admin.
    #[arg(long, default_value = "user", value_parser = parse_role)]
    role: Role,
    /// Display name (`name` claim).
    #[arg(long)]
    name: Option<String>,
    /// E-mail (`email` claim).
    #[arg(long)]
    email: Option<String>,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// `iss` claim, for stacks that check it.
    #[arg(long)]
    issuer: Option<String>,
    /// `aud` claim, for stacks that check it.
    #[arg(long)]
    audience: Option<String>,
}

fn parse_role(text: &str) -> Result<Role, String> {
    match text {
        "user" => Ok(Role::User),
        "moderator" => Ok(Role::Moderator),
        "admin" => Ok(Role::Admin),
        _ => Err("role must be user, moderator or admin".into()),
    }
}

fn main() {
    let args = Args::parse();
    let now = markets_core::domain::unix_seconds();
    let claims = Claims {
        sub: args.sub,
        role: args.role,
        exp: now + args.ttl,
        name: args.name,
        email: args.email,
        iss: args.issuer,
        aud: args.audience,
    };
    println!("{}", mint_token(dev::jwt_secret().as_bytes(), &claims));
}
