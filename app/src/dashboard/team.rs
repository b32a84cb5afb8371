//! Team (owners): add a user (their password shown once), change roles, remove users.

use leptos::prelude::*;

use super::api::*;
use super::{OneTime, failed, hydrated, loading, outcome, profile};

#[component]
pub fn Team() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let ready = hydrated();
    let change = ServerAction::<ChangeRole>::new();
    let remove = ServerAction::<RemoveUser>::new();
    let members =
        Resource::new(move || (add.version().get(), change.version().get(), remove.version().get()), |_| list_team());
    view! {
        <h1>"Team"</h1>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let p = match profile().await { Ok(p) => p, Err(e) => return failed(e) };
                if !p.can.team {
                    return view! { <p class="empty">"Only an owner manages the team."</p> }.into_any();
                }
                let members = match members.await { Ok(m) => m, Err(e) => return failed(e) };
                view! {
                    <section class="panel">
                        <h2>"Add a user"</h2>
                        <ActionForm action=add attr:class="demo-form">
                            <label for="user-email">"Email"</label>
                            <input id="user-email" name="email" type="email" required=""/>
                            <label for="user-role">"Role"</label>
                            <select id="user-role" name="role">
                                {ROLES.iter().map(|r| view! { <option value=*r selected=*r == "viewer">{*r}</option> }).collect_view()}
                            </select>
                            <button type="submit" disabled=move || !ready.get() || add.pending().get()>"Add user"</button>
                        </ActionForm>
                        {move || match add.value().get() {
                            Some(Ok(s)) => view! { <OneTime title="Their password" secret=s.secret/> }.into_any(),
                            Some(Err(e)) => failed(e),
                            None => ().into_any(),
                        }}
                    </section>
                    {outcome(change.value(), "Role changed.")}
                    {outcome(remove.value(), "Removed.")}
                    <div class="table-wrap">
                        <table class="data" id="team">
                            <thead><tr><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Added"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {members.into_iter().map(|m| {
                                    let label = format!("Role of {}", m.email);
                                    let remove_label = format!("Remove {}", m.email);
                                    let (role_id, remove_id, current) = (m.id.clone(), m.id.clone(), m.role.clone());
                                    let controls = (!m.is_you).then(|| view! {
                                        <div class="row">
                                            <ActionForm action=change attr:class="inline-form">
                                                <input type="hidden" name="id" value=role_id/>
                                                <select name="role" aria-label=label>
                                                    {ROLES.iter().map(|r| view! { <option value=*r selected=*r == current>{*r}</option> }).collect_view()}
                                                </select>
                                                <button type="submit" class="secondary small-button">"Change role"</button>
                                            </ActionForm>
                                            <ActionForm action=remove>
                                                <input type="hidden" name="id" value=remove_id/>
                                                <button type="submit" class="secondary small-button" aria-label=remove_label>"Remove"</button>
                                            </ActionForm>
                                        </div>
                                    });
                                    view! {
                                        <tr>
                                            <td>{m.email.clone()}{m.is_you.then_some(" (you)")}</td>
                                            <td>{m.role.clone()}</td>
                                            <td>{m.created_at.clone()}</td>
                                            <td>{controls}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                .into_any()
            })}
        </Transition>
    }
}
