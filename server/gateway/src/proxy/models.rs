//! `/models` and `/models/{model}`, answered from the tenant's routes
//! without an upstream call.

use super::*;

pub(super) fn model_json(name: &str, route: &RouteEntry) -> Value {
    json!({"id": name, "object": "model", "created": route.created_at.timestamp(), "owned_by": "ditto"})
}

/// Answers from the snapshot, accounted like any other request.
pub(super) fn answer(call: Call, body: Value) -> Response {
    call.gw.usage.record(call.event(200, 0, None, None, None));
    call.gw.metrics.response(200);
    let mut response = axum::Json(body).into_response();
    call.stamp(response.headers_mut(), None, 0);
    response
}

/// `GET /v1/models`: the exact model names this key may use.
pub(super) fn list_models(call: Call, tenant: &Tenant) -> Response {
    let mut models: Vec<(&String, &Arc<RouteEntry>)> = tenant
        .routes
        .names()
        .filter(|(name, _)| call.key.allows(name))
        .collect();
    models.sort_by(|a, b| a.0.cmp(b.0));
    let data: Vec<Value> = models
        .into_iter()
        .map(|(name, route)| model_json(name, route))
        .collect();
    answer(call, json!({"object": "list", "data": data}))
}

/// `GET /v1/models/{model}`: one model this key may use.
pub(super) fn get_model(call: Call, tenant: &Tenant, model: &str) -> Response {
    match tenant.routes.exact(model) {
        Some(route) if call.key.allows(model) => answer(call, model_json(model, route)),
        _ => call.refuse(GatewayError::model_not_found(model), 0),
    }
}
