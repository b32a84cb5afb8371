//! What every operation of the OpenAPI document has in common, added once after all routers are
//! merged: its path parameters, and the error answers any route can give (bad input, a missing
//! or insufficient credential, an unknown id, a body too large or of the wrong type, a reused
//! idempotency key, the rate limit), all with the one error body of SPEC §2.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};

/// `{"error": {type, code, message, param?, request_id, …}}`.
fn error_schema() -> ObjectBuilder {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let kinds = [
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "idempotency_error",
        "rate_limit_error",
        "card_error",
        "api_error",
    ];
    let kind = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(kinds));
    let inner = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("type", kind)
        .property("code", text())
        .property("message", text())
        .property("param", text())
        .property("request_id", text())
        .property("decline_code", text().description(Some("A card or bank decline's reason (402)")))
        .property("payment_id", text().description(Some("The failed payment that was kept (402 on validate)")))
        .property(
            "attempts_remaining",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("Wrong codes left on the challenge (400 invalid_code)")),
        )
        .required("type")
        .required("code")
        .required("message")
        .required("request_id");
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("The error body every failure answers with (SPEC §2)."))
        .property("error", inner)
        .required("error")
}

/// `{"value": [...], "@odata.count"?, "@odata.nextLink"?}`: every list's body. Its items are
/// objects, not a named schema: `$select` keeps only the fields it names.
fn list_schema() -> ObjectBuilder {
    let items = ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("A list (SPEC §8): its objects, and the count and next page when asked for or left."))
        .property("value", items)
        .property("@odata.count", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
        .property("@odata.nextLink", ObjectBuilder::new().schema_type(Type::String))
        .required("value")
}

pub fn complete(doc: &mut OpenApi) {
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    schemas.insert("Error".into(), error_schema().into());
    schemas.insert("List".into(), list_schema().into());
    for (path, item) in doc.paths.paths.iter_mut() {
        let names: Vec<&str> =
            path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect();
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
        {
            // OAuth answers its errors as RFC 6749 says, not with our error body.
            complete_operation(op, &names, !path.starts_with("/oauth2/"));
        }
    }
}

fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build()
}

fn complete_operation(op: &mut Operation, path_params: &[&str], our_errors: bool) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in path_params {
        let declared = params.iter().any(|p| p.name == *name && p.parameter_in == ParameterIn::Path);
        if !declared {
            params.push(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            );
        }
    }
    let keyed = params.iter().any(|p| p.name.eq_ignore_ascii_case("idempotency-key"));
    let listed = params.iter().any(|p| p.name == "$filter" && p.parameter_in == ParameterIn::Query);
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut answers = vec![("400", "The request is malformed or a parameter is invalid"), ("429", "Too many requests")];
    if secured {
        answers.push(("401", "No valid credential"));
        answers.push(("403", "The credential may not do this"));
        // Every authenticated call reads the database (and some call the processor or the mail
        // server): when none answers in time, 503 with Retry-After; nothing was done twice.
        answers.push(("503", "The database, the processor or the mail server is unavailable; retry"));
    }
    let names_account = params.iter().any(|p| p.name.eq_ignore_ascii_case("x-payment-account-uid"));
    if !path_params.is_empty() || names_account {
        // With an admin token, the X-Payment-Account-Uid header names the account: unknown, 404.
        answers.push(("404", "No such object (or no such payment account in X-Payment-Account-Uid)"));
    }
    if op.request_body.is_some() {
        answers.push(("413", "The body is too large"));
        answers.push(("415", "The body is not JSON"));
    }
    if keyed {
        answers.push(("409", "A request with this idempotency key is still in progress"));
        answers.push(("422", "The idempotency key was used with another request"));
    }
    if listed {
        answers.push(("501", "An OData option the server does not support (SPEC §8)"));
    }
    for (status, description) in answers {
        op.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            ResponseBuilder::new().description(description).content("application/json", error_content()).build().into()
        });
    }
    // A list's 200, described but given no body: the list's body.
    if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200")
        && ok.content.is_empty()
        && ok.description.starts_with("{value")
    {
        ok.content.insert(
            "application/json".into(),
            ContentBuilder::new().schema(Some(Ref::from_schema_name("List"))).build(),
        );
    }
    if our_errors {
        // The routes' own error statuses, given without a body: the same error body.
        for (status, answer) in op.responses.responses.iter_mut() {
            if let (true, RefOr::T(response)) = (status.parse::<u16>().is_ok_and(|s| s >= 400), answer)
                && response.content.is_empty()
            {
                response.content.insert("application/json".into(), error_content());
            }
        }
    }
}
