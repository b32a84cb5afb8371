//! Every string the checkout shows, in English and Spanish: one catalogue, looked up by key.

/// Languages the checkout speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Es,
}

impl Lang {
    pub fn parse(locale: &str) -> Lang {
        if locale.starts_with("es") { Lang::Es } else { Lang::En }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }
}

/// One message of the catalogue: its place in the catalogue (the Spanish table is read by it)
/// and its English. Messages are named constants (`msg::pay`), so a key that does not exist is a
/// compile error, and each English message is a string of its own: a bundle links only the
/// English it shows, and a message only a split part shows travels in that part's chunk
/// (measured in README's Size section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg {
    index: u8,
    english: &'static str,
}

/// Writes the catalogue as the `msg` constants and, in the same order, one Spanish table, so that
/// a bundle can leave the Spanish out (the split checkout loads it only for Spanish sessions:
/// `ui::checkout`). The Spanish table is one string of entries, each ended by `\u{1e}`, rather
/// than an array of string slices: an array is two pointers and two lengths per string in the
/// WASM's data, which do not compress.
macro_rules! catalogue {
    ($(($key:ident, $en:literal, $es:literal)),* $(,)?) => {
        /// Each message's place in the catalogue.
        #[allow(non_camel_case_types)]
        #[repr(u8)]
        enum Place { $($key),* }

        /// The messages, by key.
        #[allow(non_upper_case_globals)]
        pub mod msg {
            use super::{Msg, Place};
            $(pub const $key: Msg = Msg { index: Place::$key as u8, english: $en };)*
        }

        /// The messages in Spanish, in the catalogue's order.
        pub(crate) const SPANISH: &str = concat!($($es, "\u{1e}"),*);

        /// Every message, in order (what the Spanish table must match).
        #[cfg(test)]
        const ALL: &[(&str, Msg)] = &[$((stringify!($key), msg::$key)),*];
    };
}

/// A table's entries, in order.
fn entries(table: &'static str) -> impl Iterator<Item = &'static str> {
    table.split_terminator('\u{1e}')
}

// The messages: (key, English, Spanish). At most 256 (`Msg::index` is a byte). `subtotal` and
// `minutes_seconds` have no caller; removing them was measured at +171 B for the checkout (the
// renumbering moved wasm-opt's and zopfli's choices), so they stay until the catalogue changes.
#[rustfmt::skip]
catalogue! {
    (secure_checkout, "Secure checkout", "Pago seguro"),
    (powered_by, "Secure checkout by Govifi", "Pago seguro con Govifi"),
    (loading, "Loading the checkout…", "Cargando el pago…"),
    (order_summary, "Order summary", "Resumen del pedido"),
    (subtotal, "Subtotal", "Subtotal"),
    (tax, "Tax", "Impuestos"),
    (shipping, "Shipping", "Envío"),
    (amount_due, "Amount due", "Importe a pagar"),
    (fee, "Convenience fee", "Cargo por conveniencia"),
    (total, "Total", "Total"),
    (pay_with, "Payment method", "Método de pago"),
    (tab_card, "Card", "Tarjeta"),
    (tab_ach, "Bank account", "Cuenta bancaria"),
    (tab_apple_pay, "Apple Pay", "Apple Pay"),
    (saved_methods, "Saved payment methods", "Métodos de pago guardados"),
    (use_new_method, "Use a new payment method", "Usar un método de pago nuevo"),
    (card_ending, "ending in", "terminada en"),
    (bank_ending, "Bank account ending in", "Cuenta bancaria terminada en"),
    (expires, "expires", "vence"),
    (card_number, "Card number", "Número de tarjeta"),
    (expiry, "Expiry (MM / YY)", "Vencimiento (MM / AA)"),
    (cvc, "Security code", "Código de seguridad"),
    (cardholder, "Name on card", "Nombre en la tarjeta"),
    (postal_code, "ZIP / postal code", "Código postal"),
    (address_line1, "Billing address", "Dirección de facturación"),
    (routing_number, "Routing number", "Número de ruta (ABA)"),
    (account_number, "Account number", "Número de cuenta"),
    (account_type, "Account type", "Tipo de cuenta"),
    (checking, "Checking", "Corriente"),
    (savings, "Savings", "Ahorros"),
    (holder_name, "Account holder name", "Titular de la cuenta"),
    (err_required, "This field is required.", "Este campo es obligatorio."),
    (err_card_number, "Enter a valid card number.", "Introduzca un número de tarjeta válido."),
    (err_expiry, "Enter a valid expiry date that is not in the past.", "Introduzca una fecha de vencimiento válida y no pasada."),
    (err_cvc_3, "Enter the 3-digit security code.", "Introduzca el código de seguridad de 3 dígitos."),
    (err_cvc_4, "Enter the 4-digit security code.", "Introduzca el código de seguridad de 4 dígitos."),
    (err_routing, "Enter a valid 9-digit routing number.", "Introduzca un número de ruta válido de 9 dígitos."),
    (err_account, "Enter an account number of 4 to 17 digits.", "Introduzca un número de cuenta de 4 a 17 dígitos."),
    (err_fix_fields, "Please correct the highlighted fields.", "Corrija los campos señalados."),
    (quote_loading, "Calculating the fee…", "Calculando el cargo…"),
    (quote_needed, "Enter your payment details to see the fee and total.", "Introduzca sus datos de pago para ver el cargo y el total."),
    (save_method, "Save this payment method for future payments", "Guardar este método de pago para pagos futuros"),
    (autopay_consent, "I authorize automatic payments with this payment method", "Autorizo pagos automáticos con este método de pago"),
    (autopay_mandate, "By checking this box you authorize {merchant} to charge this payment method for future payments under its terms until you revoke this authorization.", "Al marcar esta casilla autoriza a {merchant} a cobrar este método de pago para pagos futuros según sus condiciones, hasta que revoque esta autorización."),
    (pay, "Pay", "Pagar"),
    (processing, "Processing your payment…", "Procesando su pago…"),
    (cancel, "Cancel and return to the merchant", "Cancelar y volver al comercio"),
    (expires_in, "This checkout expires in", "Este pago vence en"),
    (declined, "Your payment was declined. Try another payment method.", "Su pago fue rechazado. Pruebe con otro método de pago."),
    (declined_insufficient_funds, "Your card has insufficient funds. Try another card.", "Su tarjeta no tiene fondos suficientes. Pruebe con otra tarjeta."),
    (declined_incorrect_cvc, "The security code is incorrect. Check it and try again.", "El código de seguridad es incorrecto. Revíselo e inténtelo de nuevo."),
    (declined_expired_card, "Your card has expired. Try another card.", "Su tarjeta ha vencido. Pruebe con otra tarjeta."),
    (declined_processing_error, "A processing error occurred. Please try again.", "Ocurrió un error de procesamiento. Inténtelo de nuevo."),
    (declined_incorrect_zip, "The postal code does not match your card. Check it and try again.", "El código postal no coincide con su tarjeta. Revíselo e inténtelo de nuevo."),
    (declined_bank, "This bank account cannot be debited. Try another payment method.", "No se puede debitar esta cuenta bancaria. Pruebe con otro método de pago."),
    (network_error, "We could not reach the payment service. Check your connection and try again; you will not be charged twice.", "No pudimos contactar con el servicio de pago. Revise su conexión e inténtelo de nuevo; no se le cobrará dos veces."),
    (retry, "Try again", "Intentar de nuevo"),
    (part_failed, "This part of the checkout could not be loaded. Check your connection and try again.", "No se pudo cargar esta parte del pago. Revise su conexión e inténtelo de nuevo."),
    (rate_limited, "Too many attempts. Please wait a moment and try again.", "Demasiados intentos. Espere un momento e inténtelo de nuevo."),
    (quote_stale, "The amount or fee changed. Please review the new total.", "El importe o el cargo cambió. Revise el nuevo total."),
    (generic_error, "Something went wrong. Please try again.", "Algo salió mal. Inténtelo de nuevo."),
    (success_title, "Payment complete", "Pago completado"),
    (success_body, "Thank you. Your payment was received.", "Gracias. Hemos recibido su pago."),
    (processing_title, "Payment submitted", "Pago enviado"),
    (processing_body, "Your bank payment is being processed. It usually takes a few days to complete.", "Su pago bancario se está procesando. Suele tardar unos días en completarse."),
    (payment_reference, "Payment reference", "Referencia del pago"),
    (amount_paid, "Amount paid", "Importe pagado"),
    (redirecting, "Taking you back to the merchant…", "Volviendo al comercio…"),
    (expired_title, "This checkout has expired", "Este pago ha vencido"),
    (expired_body, "For your security, checkout links expire. Return to the merchant to start again.", "Por su seguridad, los enlaces de pago vencen. Vuelva al comercio para empezar de nuevo."),
    (return_to_merchant, "Return to the merchant", "Volver al comercio"),
    (paid_title, "This payment has already been made", "Este pago ya se realizó"),
    (paid_body, "No further payment is needed.", "No es necesario pagar de nuevo."),
    (in_progress_title, "Your payment is being processed", "Su pago se está procesando"),
    (in_progress_body, "This page updates by itself when the payment is confirmed.", "Esta página se actualiza sola cuando se confirme el pago."),
    (invalid_link, "This checkout link is not valid.", "Este enlace de pago no es válido."),
    (origin_blocked, "This checkout cannot be used on this website.", "Este pago no se puede usar en este sitio web."),
    (challenge_title, "Verify it's you", "Verifique su identidad"),
    (challenge_intro, "For your security, we will send a 6-digit code to {destination}.", "Por su seguridad, enviaremos un código de 6 dígitos a {destination}."),
    (challenge_send, "Send code", "Enviar código"),
    (challenge_resend, "Send a new code", "Enviar un código nuevo"),
    (challenge_sent, "We sent a code to {destination}. It expires in 10 minutes.", "Enviamos un código a {destination}. Vence en 10 minutos."),
    (challenge_code, "Verification code", "Código de verificación"),
    (challenge_verify, "Verify", "Verificar"),
    (challenge_wrong, "That code is not correct. Attempts left: {n}.", "Ese código no es correcto. Intentos restantes: {n}."),
    (challenge_locked, "Too many attempts. Send a new code.", "Demasiados intentos. Envíe un código nuevo."),
    (challenge_send_limit, "You have requested too many codes. Try again later.", "Ha solicitado demasiados códigos. Inténtelo más tarde."),
    (challenge_verified, "Verified. You can pay now.", "Verificado. Ya puede pagar."),
    (challenge_no_email, "This checkout has no email address for verification. Contact the merchant.", "Este pago no tiene un correo para la verificación. Contacte con el comercio."),
    (step_up_needed, "Your card issuer asks us to verify it's you before paying.", "El emisor de su tarjeta pide verificar su identidad antes de pagar."),
    (apple_pay_button, "Pay with Apple Pay", "Pagar con Apple Pay"),
    (apple_pay_cancelled, "Apple Pay was cancelled.", "Se canceló Apple Pay."),
    (wallet_title, "Your saved payment methods", "Sus métodos de pago guardados"),
    (wallet_empty, "You have no saved payment methods.", "No tiene métodos de pago guardados."),
    (wallet_add, "Add a payment method", "Añadir un método de pago"),
    (wallet_save, "Save", "Guardar"),
    (wallet_remove, "Remove", "Eliminar"),
    (wallet_removed, "Payment method removed.", "Método de pago eliminado."),
    (wallet_added, "Payment method saved.", "Método de pago guardado."),
    (wallet_done, "Done", "Listo"),
    (minutes_seconds, "{m}:{s}", "{m}:{s}"),
}

/// The message in `lang`.
pub fn t(lang: Lang, message: Msg) -> &'static str {
    match lang {
        Lang::En => message.english,
        // Until the split checkout has loaded the Spanish table, English.
        Lang::Es => spanish().and_then(|es| entries(es).nth(usize::from(message.index))).unwrap_or(message.english),
    }
}

#[cfg(not(feature = "split"))]
fn spanish() -> Option<&'static str> {
    Some(SPANISH)
}

/// The Spanish table, once the split checkout has loaded it.
#[cfg(feature = "split")]
static LOADED_SPANISH: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

#[cfg(feature = "split")]
fn spanish() -> Option<&'static str> {
    LOADED_SPANISH.get().copied()
}

/// Hands `t` the Spanish table (from the checkout's chunk that holds it).
#[cfg(feature = "split")]
pub fn use_spanish(table: &'static str) {
    let _ = LOADED_SPANISH.set(table);
}

/// The message with `{name}` placeholders filled in.
pub fn tf(lang: Lang, message: Msg, args: &[(&str, &str)]) -> String {
    let mut out = t(lang, message).to_owned();
    for (name, value) in args {
        out = out.replace(&["{", name, "}"].concat(), value);
    }
    out
}

/// The message for a decline code.
pub fn decline_message(lang: Lang, decline_code: Option<&str>) -> &'static str {
    let message = match decline_code {
        Some("insufficient_funds") => msg::declined_insufficient_funds,
        Some("incorrect_cvc") => msg::declined_incorrect_cvc,
        Some("expired_card") => msg::declined_expired_card,
        Some("processing_error") => msg::declined_processing_error,
        Some("incorrect_zip") => msg::declined_incorrect_zip,
        Some("no_account" | "account_closed") => msg::declined_bank,
        _ => msg::declined,
    };
    t(lang, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_translated_in_order() {
        let spanish: Vec<&str> = entries(SPANISH).collect();
        assert_eq!(spanish.len(), ALL.len(), "one Spanish entry per message");
        for (i, ((key, message), es)) in ALL.iter().zip(&spanish).enumerate() {
            assert_eq!(usize::from(message.index), i, "{key}");
            assert_eq!(t(Lang::En, *message), message.english);
            assert_eq!(t(Lang::Es, *message), *es, "{key}");
            // Every message has words in both languages.
            assert!(!message.english.is_empty() && !es.is_empty(), "{key}");
            // Placeholders match across languages.
            let holes = |s: &str| s.matches('{').count();
            assert_eq!(holes(message.english), holes(es), "{key}");
        }
    }

    #[test]
    fn lookups_and_placeholders() {
        assert_eq!(t(Lang::Es, msg::pay), "Pagar");
        assert_eq!(t(Lang::En, msg::pay), "Pay");
        assert_eq!(tf(Lang::En, msg::challenge_wrong, &[("n", "4")]), "That code is not correct. Attempts left: 4.");
        assert_eq!(Lang::parse("es-MX"), Lang::Es);
        assert_eq!(
            decline_message(Lang::En, Some("insufficient_funds")),
            t(Lang::En, msg::declined_insufficient_funds)
        );
        assert_eq!(decline_message(Lang::Es, Some("whatever")), t(Lang::Es, msg::declined));
    }
}
