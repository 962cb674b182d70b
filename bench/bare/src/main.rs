//! The baseline the tracked click is judged against (DESIGN.md): actix-web, the same number of
//! workers, answering `/aff_c` with the same kind of 302 (Location built from the query), and
//! recording nothing. `/ok` answers 200 (a local postback receiver for the delivery benchmark).
//!
//! Usage: `bare302 127.0.0.1:9090 [workers]`

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

async fn redirect(req: HttpRequest) -> HttpResponse {
    let location = format!("https://shop.example/land?tid=0190a1b2c3d4e5f60718293a4b5c6d7e&{}", req.query_string());
    HttpResponse::Found().insert_header(("location", location)).insert_header(("cache-control", "no-store")).finish()
}

async fn ok() -> HttpResponse {
    HttpResponse::Ok().body("OK")
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9090".to_owned());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().route("/aff_c", web::get().to(redirect)).default_service(web::to(ok)))
            .workers(workers)
            .bind(listen)?
            .run()
            .await
    })
}
