export default function NotFoundPage() {
  return (
    <section class="notice">
      <h1>Page not found</h1>
      <p>There is nothing at this address.</p>
      <p>
        <a href="/">Back to the home page</a>
      </p>
    </section>
  );
}
