//! The library API end to end, against the built-in sandbox (no account, no network):
//! `cargo run -p iql --example library`
//!
//! With a real account, drop `.sandbox(…)`: the engine reads DIGITALOCEAN_TOKEN.

use iql::{Engine, SandboxConfig};

#[tokio::main]
async fn main() -> Result<(), iql::Error> {
    let engine = Engine::builder()
        .sandbox(SandboxConfig {
            images: 250,
            ..SandboxConfig::default()
        })
        .concurrency(8)
        .build()
        .await?;

    // Pushed down: `type = 'distribution'` is sent as ?type=distribution.
    // Left to SQLite: ORDER BY, and the filter on the `type` *attribute* in the second query.
    let sql = "
        SELECT name, slug, distribution FROM digitalocean.compute.images
        WHERE type = 'distribution' ORDER BY name LIMIT 3;
        SELECT type, count(*) AS images, round(sum(size_gigabytes), 1) AS gigabytes
        FROM digitalocean.compute.images WHERE private = true GROUP BY type ORDER BY type;";
    for result in engine.execute(sql).await? {
        let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
        println!("{}", names.join(" | "));
        for row in &result.rows {
            let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
            println!("{}", cells.join(" | "));
        }
        println!(
            "({} rows, {} requests)\n",
            result.rows.len(),
            result.stats.requests
        );
    }
    Ok(())
}
