import { Link } from "react-router";
import { useTitle } from "../components/hooks";

export default function NotFound() {
  useTitle("Not found");
  return (
    <>
      <h1>Not found</h1>
      <p>
        The console has no such page. <Link to="/">Go to the overview</Link>.
      </p>
    </>
  );
}
