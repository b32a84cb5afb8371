// The sandbox demo's merchant-side script: what a merchant's page does with the element's events.
const element = document.getElementById("embedded");
const status = document.getElementById("demo-events");
if (element && status) {
  element.addEventListener("govifi-ready", () => { status.textContent = "Element ready."; });
  element.addEventListener("govifi-error", (e) => { status.textContent = `Element reported: ${e.detail.code}`; });
  element.addEventListener("govifi-cancel", () => { status.textContent = "The customer cancelled."; });
  element.addEventListener("govifi-success", (e) => {
    status.textContent = `Paid: ${e.detail.payment_id}. Opening the receipt…`;
    // An embedded checkout leaves the next step to the merchant: here, the signed receipt page.
    setTimeout(() => window.location.assign(e.detail.redirect_url), 1200);
  });
}
