//! The merchant dashboard's hydration bundle: the server renders each page
//! (`app::dashboard::DashboardApp`), and this makes it live — client-side navigation, forms
//! that call the server functions without reloading, one-time secrets shown in place.

fn main() {
    app::dashboard::hydrate();
}
